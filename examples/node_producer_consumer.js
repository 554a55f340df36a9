'use strict';
// A producer and two long-polling consumers on one MNS queue, from Node.js, with
// Alibaba's @alicloud/mns client; against minimns or cloud MNS alike.
//
// Run:  minimns serve &                     (or any MNS endpoint and its keys)
//       npm install @alicloud/mns
//       node examples/node_producer_consumer.js
//
// MNS_ENDPOINT, MNS_ACCOUNT_ID, MNS_ACCESS_KEY_ID and MNS_ACCESS_KEY_SECRET choose
// the service (default: minimns on http://127.0.0.1:9876, which takes any key).
// The consumers park in receiveMessage(queue, waitSeconds) and wake the moment a
// message is sent; each deletes what it handled, and stops after 2 s of nothing.
const MNS = require('@alicloud/mns');

const endpoint = process.env.MNS_ENDPOINT || 'http://127.0.0.1:9876';
const client = new MNS(process.env.MNS_ACCOUNT_ID || '1234567890', {
  endpoint,
  accessKeyId: process.env.MNS_ACCESS_KEY_ID || 'any-id',
  accessKeySecret: process.env.MNS_ACCESS_KEY_SECRET || 'any-secret',
});
const QUEUE = 'node-orders';

async function producer() {
  for (let i = 0; i < 6; i++) {
    console.log(`producing order ${i}`);
    // Priority 1 is served before the default 8
    await client.sendMessage(QUEUE, {MessageBody: `order ${i}`, Priority: i === 4 ? 1 : 8});
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function consumer(name) {
  let handled = 0;
  for (;;) {
    let message;
    try {
      message = (await client.receiveMessage(QUEUE, 2)).body;
    } catch (error) {
      if (error.name === 'MNSMessageNotExistError') {
        console.log(`${name}: nothing for 2 s, done after ${handled} orders`);
        return handled;
      }
      throw error;
    }
    console.log(`${name}: got '${message.MessageBody}' (dequeue count ${message.DequeueCount})`);
    await client.deleteMessage(QUEUE, message.ReceiptHandle);
    handled++;
  }
}

(async () => {
  await client.createQueue(QUEUE, {VisibilityTimeout: 30});
  const [, first, second] = await Promise.all([producer(), consumer('consumer-1'),
                                              consumer('consumer-2')]);
  console.log(`orders handled: ${first + second}`);
  await client.deleteQueue(QUEUE);
})().catch((error) => {
  console.error(`${error.name}: ${error.message}`);
  process.exit(1);
});
