'use strict';
// Drives a Node.js MNS client for tests/test_node_sdk.py: one JSON call per line
// on stdin, {"client": "alicloud", "method": "sendMessage", "args": [...]}, one
// JSON answer per line on stdout: {"ok": value} or {"error": {name, message, code}}.
// Every call is a public method of the client, made as its users make it.
const readline = require('readline');
const AliCloudMNS = require('@alicloud/mns');

const [endpoint, accountId, keyId, keySecret] = process.argv.slice(2);
const clients = {
  alicloud: new AliCloudMNS(accountId, {endpoint, accessKeyId: keyId, accessKeySecret: keySecret}),
};
try {
  const AliMNS = require('ali-mns');
  // ali-mns builds its URL from the account id and region; it takes a full
  // endpoint through the region argument only as a URL (its own escape hatch).
  clients.aliAccount = new AliMNS.Account(accountId, keyId, keySecret);
  clients.aliRegion = endpoint;
  clients.AliMNS = AliMNS;
} catch (e) {
  // ali-mns is optional: its tests skip when it is not installed
}

async function call(request) {
  const client = clients[request.client];
  // JSON has no undefined: a null argument is one the caller leaves out
  const args = request.args.map((arg) => (arg === null ? undefined : arg));
  return client[request.method](...args);
}

const lines = readline.createInterface({input: process.stdin});
let chain = Promise.resolve();
lines.on('line', (line) => {
  chain = chain.then(async () => {
    let answer;
    try {
      answer = {ok: await call(JSON.parse(line))};
    } catch (error) {
      answer = {error: {name: error.name, message: error.message, code: error.code}};
    }
    process.stdout.write(JSON.stringify(answer === undefined ? {ok: null} : answer) + '\n');
  });
});
