#!/usr/bin/env node
// Drives the fake SQS (tests/fakes/aws) with the AWS SDK for JavaScript v3
// (@aws-sdk/client-sqs, AWS JSON 1.0 with X-Amz-Target: AmazonSQS.<Action>)
// and checks every answer: the SDK signs (SigV4, service "sqs"), parses
// and checks MD5OfBody / MD5OfMessageBody itself (a mismatch throws), maps
// errors to its typed exceptions through __type and x-amzn-query-error.
//
// Usage: node sqs_sdk_v3.mjs TOOLS_DIR ENDPOINT
//   TOOLS_DIR  tests/tools (its node_modules holds @aws-sdk/client-sqs,
//              installed by scripts/install-test-tools.sh)
//   ENDPOINT   the fake's http://127.0.0.1:PORT (with its control API)
// Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
// Prints one line per check; exits 0 when every check passed, 1 when one
// failed, 2 on a usage error. Gives up after 90 s.
import crypto from "node:crypto";
import path from "node:path";
import { createRequire } from "node:module";

function die(message) {
  console.error("sqs_sdk_v3: " + message);
  process.exit(2);
}
const [toolsDir, endpoint] = process.argv.slice(2);
if (!toolsDir || !endpoint) die("usage: sqs_sdk_v3.mjs TOOLS_DIR ENDPOINT");
const require = createRequire(path.resolve(toolsDir, "package.json"));
let sqs;
try {
  sqs = require("@aws-sdk/client-sqs");
} catch (e) {
  die("@aws-sdk/client-sqs is missing from " + toolsDir +
      "/node_modules: run scripts/install-test-tools.sh (" + e.message + ")");
}
const sdkVersion = require("@aws-sdk/client-sqs/package.json").version;

const watchdog = setTimeout(() => {
  console.error("FAIL: gave up after 90 s");
  process.exit(1);
}, 90_000);

let failures = 0;
function check(ok, what, detail = "") {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${detail ? ": " + detail : ""}`);
  if (!ok) failures++;
}
async function expectError(what, promise, name, code, status) {
  try {
    await promise;
    check(false, what, "no error");
  } catch (e) {
    const got = `${e.name} Code=${e.Code} HTTP ${e.$metadata?.httpStatusCode}`;
    check(e.name === name && (code === undefined || e.Code === code) &&
              e.$metadata?.httpStatusCode === status,
          what, got + (e.name === name ? "" : " " + e.message));
    return e;
  }
}

const client = new sqs.SQSClient({
  region: "us-east-1",
  endpoint,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
  maxAttempts: 3,
});
const send = (Command, input) => client.send(new Command(input));

// MD5OfMessageAttributes as the SQS developer guide defines it (the SDK does
// not check this one; the fake computes it independently).
function md5OfAttributes(attrs) {
  const parts = [];
  const lp = (buf) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(buf.length);
    parts.push(len, buf);
  };
  for (const name of Object.keys(attrs).sort()) {
    const a = attrs[name];
    lp(Buffer.from(name, "utf8"));
    lp(Buffer.from(a.DataType, "utf8"));
    const binary = a.DataType.startsWith("Binary");
    parts.push(Buffer.from([binary ? 2 : 1]));
    lp(binary ? Buffer.from(a.BinaryValue) : Buffer.from(a.StringValue, "utf8"));
  }
  return crypto.createHash("md5").update(Buffer.concat(parts)).digest("hex");
}
const md5 = (s) => crypto.createHash("md5").update(s, "utf8").digest("hex");

async function main() {
  console.log(`@aws-sdk/client-sqs ${sdkVersion} against ${endpoint}`);
  // Queues.
  const dlq = await send(sqs.CreateQueueCommand, { QueueName: "sdk-dlq" });
  check(dlq.QueueUrl === `${endpoint}/123456789012/sdk-dlq`, "CreateQueue URL", dlq.QueueUrl);
  const { QueueUrl: url } = await send(sqs.CreateQueueCommand, {
    QueueName: "sdk-main", Attributes: { VisibilityTimeout: "30" } });
  const dlqArn = (await send(sqs.GetQueueAttributesCommand, {
    QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] })).Attributes.QueueArn;
  check(dlqArn === "arn:aws:sqs:us-east-1:123456789012:sdk-dlq", "QueueArn", dlqArn);
  await send(sqs.SetQueueAttributesCommand, { QueueUrl: url, Attributes: {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) } });
  const got = await send(sqs.GetQueueUrlCommand, { QueueName: "sdk-main" });
  check(got.QueueUrl === url, "GetQueueUrl", got.QueueUrl);
  await expectError("CreateQueue with another VisibilityTimeout",
      send(sqs.CreateQueueCommand, { QueueName: "sdk-main", Attributes: { VisibilityTimeout: "31" } }),
      "QueueNameExists", "QueueAlreadyExists", 400);

  // Send: the SDK checks MD5OfMessageBody (throws on a mismatch).
  const attrs = {
    color: { DataType: "String", StringValue: "blue" },
    count: { DataType: "Number", StringValue: "42" },
    blob: { DataType: "Binary", BinaryValue: Buffer.from([0, 1, 2, 250]) },
  };
  const sent = await send(sqs.SendMessageCommand, {
    QueueUrl: url, MessageBody: "first ünïcode", MessageAttributes: attrs });
  check(sent.MD5OfMessageBody === md5("first ünïcode"), "SendMessage MD5OfMessageBody");
  check(sent.MD5OfMessageAttributes === md5OfAttributes(attrs), "SendMessage MD5OfMessageAttributes",
        `${sent.MD5OfMessageAttributes} vs ${md5OfAttributes(attrs)}`);
  const batch = await send(sqs.SendMessageBatchCommand, { QueueUrl: url, Entries: [
    { Id: "b1", MessageBody: "second" },
    { Id: "b2", MessageBody: "third", DelaySeconds: 0 },
    { Id: "bad", MessageBody: "x", DelaySeconds: 901 },
  ] });
  check(batch.Successful?.length === 2 && batch.Failed?.length === 1 &&
            batch.Failed[0].Id === "bad" && batch.Failed[0].Code === "InvalidParameterValue" &&
            batch.Failed[0].SenderFault === true,
        "SendMessageBatch: two sent, one refused", JSON.stringify(batch.Failed));
  await expectError("SendMessageBatch of 11 entries",
      send(sqs.SendMessageBatchCommand, { QueueUrl: url,
          Entries: [...Array(11).keys()].map((i) => ({ Id: `e${i}`, MessageBody: "x" })) }),
      "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400);
  await expectError("SendMessageBatch with repeated ids",
      send(sqs.SendMessageBatchCommand, { QueueUrl: url,
          Entries: [{ Id: "a", MessageBody: "x" }, { Id: "a", MessageBody: "y" }] }),
      "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400);

  // Receive: the SDK checks every MD5OfBody.
  const r1 = await send(sqs.ReceiveMessageCommand, {
    QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 20,
    MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"] });
  check(r1.Messages?.length === 3, "ReceiveMessage gets the three", `${r1.Messages?.length}`);
  const first = r1.Messages.find((m) => m.Body === "first ünïcode");
  check(first && first.MessageId === sent.MessageId, "the first message, by id");
  check(first?.Attributes?.ApproximateReceiveCount === "1" && /^\d{13}$/.test(first?.Attributes?.SentTimestamp) &&
            /^\d{13}$/.test(first?.Attributes?.ApproximateFirstReceiveTimestamp),
        "system attributes", JSON.stringify(first?.Attributes));
  check(first?.MessageAttributes?.color?.StringValue === "blue" &&
            Buffer.from(first?.MessageAttributes?.blob?.BinaryValue ?? []).equals(Buffer.from([0, 1, 2, 250])),
        "message attributes come back", JSON.stringify(first?.MessageAttributes));
  check(first?.MD5OfMessageAttributes === md5OfAttributes(attrs), "MD5OfMessageAttributes on receive");
  const none = await send(sqs.ReceiveMessageCommand, { QueueUrl: url, WaitTimeSeconds: 0 });
  check(!none.Messages || none.Messages.length === 0, "in flight: nothing to receive");

  // Visibility: 0 makes it visible again; a new receive gives a new handle.
  await send(sqs.ChangeMessageVisibilityCommand, {
    QueueUrl: url, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 });
  const r2 = await send(sqs.ReceiveMessageCommand, {
    QueueUrl: url, WaitTimeSeconds: 1, VisibilityTimeout: 20, AttributeNames: ["ApproximateReceiveCount"] });
  const again = r2.Messages?.[0];
  check(again?.MessageId === first.MessageId && again?.Attributes?.ApproximateReceiveCount === "2" &&
            again?.ReceiptHandle !== first.ReceiptHandle,
        "redelivered with ApproximateReceiveCount 2 and a new handle");
  await expectError("ChangeMessageVisibility with the outdated handle",
      send(sqs.ChangeMessageVisibilityCommand, {
          QueueUrl: url, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 5 }),
      "InvalidParameterValue", "InvalidParameterValue", 400);
  await send(sqs.DeleteMessageCommand, { QueueUrl: url, ReceiptHandle: first.ReceiptHandle });
  check(true, "DeleteMessage with the outdated handle succeeds (the message stays)");
  await expectError("DeleteMessage with a malformed handle",
      send(sqs.DeleteMessageCommand, { QueueUrl: url, ReceiptHandle: "not-a-handle" }),
      "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404);
  const others = r1.Messages.filter((m) => m.MessageId !== first.MessageId);
  const del = await send(sqs.DeleteMessageBatchCommand, { QueueUrl: url, Entries: [
    ...others.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
    { Id: "current", ReceiptHandle: again.ReceiptHandle },
    { Id: "junk", ReceiptHandle: "junk" },
  ] });
  check(del.Successful?.length === 3 && del.Failed?.length === 1 &&
            del.Failed[0].Code === "ReceiptHandleIsInvalid",
        "DeleteMessageBatch", JSON.stringify(del.Failed));
  const cvb = await send(sqs.ChangeMessageVisibilityBatchCommand, { QueueUrl: url, Entries: [
    { Id: "gone", ReceiptHandle: again.ReceiptHandle, VisibilityTimeout: 5 } ] });
  check(cvb.Failed?.length === 1 && cvb.Failed[0].Code === "InvalidParameterValue",
        "ChangeMessageVisibilityBatch on a deleted message", JSON.stringify(cvb.Failed));

  // Long polling returns as soon as a message arrives.
  const t0 = Date.now();
  const poll = send(sqs.ReceiveMessageCommand, { QueueUrl: url, WaitTimeSeconds: 10 });
  await new Promise((r) => setTimeout(r, 300));
  await send(sqs.SendMessageCommand, { QueueUrl: url, MessageBody: "late" });
  const late = await poll;
  const took = Date.now() - t0;
  check(late.Messages?.[0]?.Body === "late" && took < 5000, "long poll returns on arrival", `${took} ms`);

  // Redrive: after maxReceiveCount (2) receives the next one moves it to the DLQ.
  const lateMsg = late.Messages[0];
  await send(sqs.ChangeMessageVisibilityCommand, {
    QueueUrl: url, ReceiptHandle: lateMsg.ReceiptHandle, VisibilityTimeout: 0 });
  const second = await send(sqs.ReceiveMessageCommand, { QueueUrl: url, VisibilityTimeout: 0 });
  check(second.Messages?.[0]?.MessageId === lateMsg.MessageId, "second receive");
  const third = await send(sqs.ReceiveMessageCommand, { QueueUrl: url, WaitTimeSeconds: 0 });
  check(!third.Messages || third.Messages.length === 0, "third receive: moved to the dead-letter queue");
  const fromDlq = await send(sqs.ReceiveMessageCommand, { QueueUrl: dlq.QueueUrl, WaitTimeSeconds: 1 });
  check(fromDlq.Messages?.[0]?.MessageId === lateMsg.MessageId, "the DLQ has it");

  // Validation, as AWS answers it.
  await expectError("MaxNumberOfMessages 11",
      send(sqs.ReceiveMessageCommand, { QueueUrl: url, MaxNumberOfMessages: 11 }),
      "InvalidParameterValue", "InvalidParameterValue", 400);
  await expectError("WaitTimeSeconds 21",
      send(sqs.ReceiveMessageCommand, { QueueUrl: url, WaitTimeSeconds: 21 }),
      "InvalidParameterValue", "InvalidParameterValue", 400);
  await expectError("VisibilityTimeout 43201",
      send(sqs.ReceiveMessageCommand, { QueueUrl: url, VisibilityTimeout: 43201 }),
      "InvalidParameterValue", "InvalidParameterValue", 400);
  const missing = await expectError("an unknown queue",
      send(sqs.ReceiveMessageCommand, { QueueUrl: `${endpoint}/123456789012/nope` }),
      "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400);
  check(missing instanceof sqs.QueueDoesNotExist, "typed QueueDoesNotExist");
  await expectError("GetQueueAttributes of an unknown attribute",
      send(sqs.GetQueueAttributesCommand, { QueueUrl: url, AttributeNames: ["Colour"] }),
      "InvalidAttributeName", "InvalidAttributeName", 400);

  // Throttling, injected through the fake's control API: the SDK retries.
  const fault = await fetch(`${endpoint}/control/fault`, { method: "POST",
      body: JSON.stringify({ action: "GetQueueAttributes", code: "RequestThrottled", status: 403, count: 2 }) });
  check(fault.ok, "fault injected");
  const throttled = await send(sqs.GetQueueAttributesCommand, { QueueUrl: url, AttributeNames: ["All"] });
  check(throttled.$metadata.attempts === 3, "RequestThrottled twice, then the answer",
        `attempts ${throttled.$metadata.attempts}`);
  check(throttled.Attributes?.VisibilityTimeout === "30" &&
            throttled.Attributes?.RedrivePolicy?.includes("sdk-dlq"),
        "GetQueueAttributes All", JSON.stringify(throttled.Attributes));

  // The rest of the queue's life.
  const list = await send(sqs.ListQueuesCommand, { QueueNamePrefix: "sdk-" });
  check(list.QueueUrls?.length === 2, "ListQueues by prefix", JSON.stringify(list.QueueUrls));
  await send(sqs.SendMessageCommand, { QueueUrl: url, MessageBody: "to purge" });
  await send(sqs.PurgeQueueCommand, { QueueUrl: url });
  await expectError("a second PurgeQueue within 60 s",
      send(sqs.PurgeQueueCommand, { QueueUrl: url }),
      "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403);
  await send(sqs.DeleteQueueCommand, { QueueUrl: url });
  await expectError("GetQueueUrl after DeleteQueue",
      send(sqs.GetQueueUrlCommand, { QueueName: "sdk-main" }),
      "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400);
}

main().then(() => {
  clearTimeout(watchdog);
  console.log(failures === 0 ? "all checks passed" : `${failures} check(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
}, (e) => {
  clearTimeout(watchdog);
  console.error(`FAIL: ${e.name}: ${e.message}`);
  process.exit(1);
});
