#!/usr/bin/env node
// Waits until the stack's Kafka broker really answers (metadata + topic list over
// the Kafka protocol, with kafkajs from node_modules).
//   node probe-kafka.js BROKER TIMEOUT_SECONDS [PID]
// Exits 0 when it answers, 1 on timeout or when PID (the broker JVM) has died.
"use strict";
let Kafka, logLevel;
try {
  ({ Kafka, logLevel } = require("kafkajs"));
} catch {
  console.error("kafkajs is not installed: run `npm install` first");
  process.exit(1);
}

const [broker, timeoutArg, pidArg] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutArg || 60) * 1000;
const pid = pidArg ? Number(pidArg) : undefined;

function processAlive() {
  if (pid === undefined) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function probeOnce() {
  const kafka = new Kafka({
    clientId: "atlas-stack-probe",
    brokers: [broker],
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    await admin.listTopics();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

(async () => {
  let lastError = "no answer";
  while (Date.now() < deadline) {
    if (!processAlive()) {
      console.error(`process ${pid} exited`);
      process.exit(1);
    }
    try {
      if (await probeOnce()) process.exit(0);
      lastError = "no controller yet";
    } catch (err) {
      lastError = err && err.message ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  console.error(`no answer from ${broker}: ${lastError}`);
  process.exit(1);
})();
