#!/usr/bin/env node
// The baseline of the ingest benchmark: the same aedes broker with no persistence and no outbox (PUBACK as soon as
// the packet is parsed), on a TCP socket with noDelay. usage: node bench/baseline-broker.ts <port>
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2] ?? 1884);
const broker = await Aedes.createBroker();
const server = createServer({ noDelay: true }, broker.handle);
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'gateway ready', port })));
process.on('SIGTERM', () => process.exit(0));
