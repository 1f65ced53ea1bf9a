// remove.bg's "Sample code: image file upload" for Node (axios), unchanged but for the
// base URL, the key and the paths, which come from the command line.
const axios = require('axios');
const FormData = require('form-data');
const fs = require('fs');
const path = require('path');

const [baseUrl, apiKey, inputPath, outputPath] = process.argv.slice(2);
const formData = new FormData();
formData.append('size', 'auto');
formData.append('image_file', fs.createReadStream(inputPath), path.basename(inputPath));

axios({
  method: 'post',
  url: `${baseUrl}/v1.0/removebg`,
  data: formData,
  responseType: 'arraybuffer',
  headers: {
    ...formData.getHeaders(),
    'X-Api-Key': apiKey,
  },
  encoding: null
})
.then((response) => {
  if(response.status != 200) return console.error('Error:', response.status, response.statusText);
  fs.writeFileSync(outputPath, response.data);
  // What axios sent, so the test can check it was axios's own default Accept header.
  console.log(response.config.headers.Accept || response.request.getHeader('accept'));
})
.catch((error) => {
  console.error('Request failed:', error);
  process.exit(1);
});
