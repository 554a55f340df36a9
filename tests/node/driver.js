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
let AliMNS = null;
try {
  // ali-mns (the community client) hard-codes http://<account>.mns.<region>.aliyuncs.com;
  // its HTTP library honours HTTP_PROXY, which the test points at minimns.
  AliMNS = require('ali-mns');
  clients.aliAccount = new AliMNS.Account(accountId, keyId, keySecret);
  clients.aliAccount.setGA(false); // no Google Analytics calls from a test
} catch (e) {
  // ali-mns is optional: its tests skip when it is not installed
}

// An ali-mns object named by [kind, ...names]: ["MNS"], ["MQ", queue], ["MQBatch", queue],
// ["MNSTopic"], ["Topic", topic], ["Subscription", topic, subscription].
function aliObject([kind, ...names]) {
  const account = clients.aliAccount;
  if (kind === 'MNS' || kind === 'MNSTopic') return new AliMNS[kind](account, 'hangzhou');
  if (kind === 'Subscription') {
    return new AliMNS.Subscription(names[1], new AliMNS.Topic(names[0], account, 'hangzhou'));
  }
  return new AliMNS[kind](names[0], account, 'hangzhou');
}

// {"$msg": [body, priority, delaySeconds]} stands for an AliMNS.Msg (MQBatch.sendP).
function aliArg(arg) {
  if (Array.isArray(arg)) return arg.map(aliArg);
  if (arg && arg.$msg) return new AliMNS.Msg(...arg.$msg);
  return arg;
}

// notifyRecv takes a callback: run it until `count` message bodies came (each callback
// returns true, so ali-mns deletes what it was given), then notifyStopP; the bodies.
function notifyUntil(mq, count, waitSeconds, numOfMessages) {
  return new Promise((resolve, reject) => {
    const bodies = [];
    mq.notifyRecv((error, data) => {
      if (error) {
        reject(error);
        return false;
      }
      const messages = data.Message ? [data.Message] : data.Messages.Message;
      bodies.push(...messages.map((m) => m.MessageBody));
      if (bodies.length >= count) mq.notifyStopP().then(() => resolve(bodies), reject);
      return true;
    }, waitSeconds, numOfMessages);
  });
}

async function call(request) {
  // JSON has no undefined: a null argument is one the caller leaves out
  const args = request.args.map((arg) => (arg === null ? undefined : arg));
  if (request.client === 'ali') {
    const target = aliObject(request.object);
    if (request.method === 'notifyRecv') return notifyUntil(target, ...args);
    return target[request.method](...args.map(aliArg));
  }
  return clients[request.client][request.method](...args);
}

const lines = readline.createInterface({input: process.stdin});
let chain = Promise.resolve();
lines.on('line', (line) => {
  chain = chain.then(async () => {
    let answer;
    try {
      answer = {ok: await call(JSON.parse(line))};
    } catch (error) {
      // ali-mns rejects with the error document as JSON ({Error: {Code, Message}})
      answer = error && error.Error
        ? {error: {name: 'MNSError', message: error.Error.Message, code: error.Error.Code}}
        : {error: {name: error.name, message: error.message, code: error.code}};
    }
    process.stdout.write(JSON.stringify(answer === undefined ? {ok: null} : answer) + '\n');
  });
});
