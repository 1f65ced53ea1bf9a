"""``/openapi.json`` tells the truth: the API-key scheme, the real error statuses with the
one error body, no 422, remove.bg's request and response documented, no HTML route; and
a 405's ``Allow`` lists every method the path answers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

ERROR_REF = "#/components/schemas/Errors"


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_only_api_routes_are_listed(document: dict[str, Any], client: TestClient) -> None:
    paths = set(document["paths"])
    assert all(path.startswith(("/api/v1/", "/v1.0/")) for path in paths), paths
    assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}/result", "/v1.0/removebg"} <= paths
    for page in ("/", "/login", "/signup", "/account", "/app", "/docs"):
        assert page not in paths
    # Nothing left over from the HTML forms either.
    schemas = document["components"]["schemas"]
    assert not [name for name in schemas if name.startswith("Body_")]
    assert "HTTPValidationError" not in schemas
    # The Swagger UI's copy is the same document.
    assert set(client.get("/docs/openapi.json").json()["paths"]) == paths


def test_api_key_security_scheme_is_declared_and_used(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["Session"]["in"] == "cookie"
    for method, path, operation in operations(document):
        assert {"ApiKey": []} in operation["security"], (method, path)
        if path.startswith("/v1.0/"):  # remove.bg's API takes the key only
            assert operation["security"] == [{"ApiKey": []}]


def test_error_statuses_are_real_and_use_the_error_body(document: dict[str, Any]) -> None:
    every_status: set[str] = set()
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        errors = {status for status in responses if int(status) >= 400}
        assert errors, (method, path)
        every_status |= errors
        for status in errors:
            content = responses[status]["content"]["application/json"]
            assert content["schema"] == {"$ref": ERROR_REF}, (method, path, status)
    assert {"400", "401", "402", "403", "404", "409", "410", "413", "429"} <= every_status
    errors_schema = document["components"]["schemas"]["Errors"]
    item = errors_schema["properties"]["errors"]["items"]
    assert set(item["required"]) == {"code", "title", "detail"}

    removebg = document["paths"]["/v1.0/removebg"]["post"]["responses"]
    assert {"400", "402", "403", "429"} <= set(removebg)
    assert "Retry-After" in removebg["429"]["headers"]
    result = document["paths"]["/api/v1/jobs/{job_id}/result"]["get"]["responses"]
    assert {"401", "404", "409", "410"} <= set(result)
    assert "413" in document["paths"]["/api/v1/jobs"]["post"]["responses"]


def test_documented_statuses_match_what_the_api_answers(
    document: dict[str, Any], client: TestClient
) -> None:
    unauthenticated = client.get("/api/v1/jobs")
    assert unauthenticated.status_code == 401
    assert "401" in document["paths"]["/api/v1/jobs"]["get"]["responses"]
    bad_query = client.get("/api/v1/jobs?page=0", headers={"X-Api-Key": "ccut_nope"})
    assert bad_query.status_code == 400  # validated before authentication; never 422
    no_key = client.post("/v1.0/removebg", data={"image_url": "https://example.org/a.jpg"})
    assert no_key.status_code == 403
    assert "403" in document["paths"]["/v1.0/removebg"]["post"]["responses"]
    assert set(no_key.json()) == {"errors"}


def test_removebg_request_and_response_are_documented(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1.0/removebg"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {
        "multipart/form-data",
        "application/json",
        "application/x-www-form-urlencoded",
    }
    multipart = content["multipart/form-data"]["schema"]
    json_body = content["application/json"]["schema"]
    properties = multipart["properties"]
    assert properties["image_file"]["format"] == "binary"
    assert "image_file" not in json_body["properties"]  # files travel in multipart only
    assert properties["size"]["enum"][:3] == ["auto", "preview", "full"]
    assert set(properties["format"]["enum"]) == {"auto", "png", "jpg", "webp", "zip"}
    assert properties["type"]["enum"][0] == "auto" and "person" in properties["type"]["enum"]
    assert properties["channels"]["enum"] == ["rgba", "alpha"]
    # Exactly one image source.
    assert multipart["oneOf"] == [
        {"required": ["image_file"]},
        {"required": ["image_file_b64"]},
        {"required": ["image_url"]},
    ]
    assert json_body["oneOf"] == [{"required": ["image_file_b64"]}, {"required": ["image_url"]}]
    assert "Exactly one image source" in operation["description"]

    ok = operation["responses"]["200"]
    assert {"image/png", "image/jpeg", "image/webp", "application/zip", "application/json"} <= set(
        ok["content"]
    )
    assert {
        "X-Type",
        "X-Width",
        "X-Height",
        "X-Credits-Charged",
        "X-Foreground-Top",
        "X-RateLimit-Remaining",
    } <= set(ok["headers"])


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/jobs/0f0e", {"GET", "DELETE"}),
        ("PATCH", "/api/v1/jobs", {"GET", "POST"}),
        ("GET", "/v1.0/removebg", {"POST"}),
        ("PUT", "/login", {"GET", "POST"}),
    ],
)
def test_405_allow_lists_every_method(
    client: TestClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_jobs_api_formats_are_enums(document: dict[str, Any]) -> None:
    for path in ("/api/v1/jobs/{job_id}/result", "/api/v1/jobs/archive"):
        [parameter] = [
            p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "format"
        ]
        assert {"png", "webp", "jpg", "auto"} <= set(parameter["schema"]["enum"]), path
