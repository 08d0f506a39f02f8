'use strict';
// A webhook sender built the usual way on BullMQ: the benchmark's comparison
// peer (bench/run.sh, docs/performance.md). Not part of the product.
//
//   node peer.js --redis URL --url URL --secret S --events FILE
//                [--procs N] [--concurrency C] [--attempts A]
//
// The parent forks N worker processes (like psw-worker's worker.processes),
// each a BullMQ Worker with concurrency C posting through one keep-alive
// node:http agent, waits until they are ready, then enqueues one job per line
// of FILE (NDJSON: the normalized event bodies psw-bench events --normalized
// writes, the same bodies our service delivers) with addBulk, 1,000 per call.
// A job posts its body with the same headers as the service, signed the same
// way (X-PostStack-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, t "." body)>,
// docs/receiving.md); anything but a 2xx answer, a timeout or a connection
// error fails the attempt, and BullMQ retries it with exponential backoff
// (1 s, 2 s, 4 s ...) up to A attempts. Completed jobs are kept (BullMQ's
// default), the nearest thing to our delivery log.
//
// The parent prints "published=N ms=T" once everything is enqueued and then
// runs until SIGTERM/SIGINT, which it passes on to the workers. The driver
// measures the rate at the receiver, as for scenario 1.

const { fork } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const readline = require('node:readline');
const { Queue, Worker } = require('bullmq');

const QUEUE = 'webhooks';

function parseArgs(argv) {
    const a = { procs: 2, concurrency: 50, attempts: 8, timeoutMs: 2000, role: 'main' };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = argv[i + 1];
        switch (k) {
        case '--redis': a.redis = v; i++; break;
        case '--url': a.url = v; i++; break;
        case '--secret': a.secret = v; i++; break;
        case '--events': a.events = v; i++; break;
        case '--procs': a.procs = Number(v); i++; break;
        case '--concurrency': a.concurrency = Number(v); i++; break;
        case '--attempts': a.attempts = Number(v); i++; break;
        case '--timeout-ms': a.timeoutMs = Number(v); i++; break;
        case '--role': a.role = v; i++; break;
        default:
            throw new Error(`peer.js: unknown argument ${k}`);
        }
    }
    for (const k of ['redis', 'url', 'secret']) {
        if (!a[k]) throw new Error(`peer.js: --${k} is required`);
    }
    if (a.role === 'main' && !a.events) throw new Error('peer.js: --events is required');
    for (const k of ['procs', 'concurrency', 'attempts', 'timeoutMs']) {
        if (!Number.isInteger(a[k]) || a[k] < 1) throw new Error(`peer.js: bad ${k}: ${a[k]}`);
    }
    return a;
}

function connection(redisUrl) {
    const u = new URL(redisUrl);
    // BullMQ's workers block on Redis; ioredis must not give up on them.
    return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}

function sign(secret, body) {
    const t = Math.floor(Date.now() / 1000);
    const mac = crypto.createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
    return `t=${t},v1=${mac}`;
}

// One attempt: resolves on a 2xx answer, rejects on anything else.
function post(agent, target, a, job) {
    const body = job.data.body;
    const headers = {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        'User-Agent': 'bullmq-peer/bench',
        'X-PostStack-Event-Id': job.data.id,
        'X-PostStack-Event-Type': job.data.type,
        'X-PostStack-Delivery-Id': `bullmq_${job.id}`,
        'X-PostStack-Attempt': String(job.attemptsMade + 1),
        'X-PostStack-Signature': sign(a.secret, body),
    };
    return new Promise((resolve, reject) => {
        const req = http.request({
            agent,
            hostname: target.hostname,
            port: target.port,
            path: target.pathname + target.search,
            method: 'POST',
            headers,
            timeout: a.timeoutMs,
        }, (res) => {
            res.resume(); // read and drop the answer, so the socket is reused
            res.on('end', () => {
                if (res.statusCode >= 200 && res.statusCode < 300) resolve(res.statusCode);
                else reject(new Error(`http: ${res.statusCode}`));
            });
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end(body);
    });
}

function runWorker(a) {
    const target = new URL(a.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: a.concurrency });
    const worker = new Worker(QUEUE, (job) => post(agent, target, a, job), {
        connection: connection(a.redis),
        concurrency: a.concurrency,
    });
    worker.on('error', (e) => console.error(`peer worker: ${e.message}`));
    let stopping = false;
    const stop = async () => {
        if (stopping) return;
        stopping = true;
        await worker.close(true).catch(() => {});
        agent.destroy();
        process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('disconnect', stop);
    worker.waitUntilReady().then(() => process.send && process.send('ready'));
}

async function runMain(a) {
    const children = [];
    const ready = [];
    for (let i = 0; i < a.procs; i++) {
        const args = ['--role', 'worker', '--redis', a.redis, '--url', a.url, '--secret', a.secret,
            '--concurrency', String(a.concurrency), '--attempts', String(a.attempts),
            '--timeout-ms', String(a.timeoutMs)];
        const c = fork(__filename, args);
        children.push(c);
        ready.push(new Promise((resolve, reject) => {
            c.once('message', resolve);
            c.once('exit', (code) => reject(new Error(`peer worker exited (${code})`)));
        }));
    }
    const stop = () => {
        for (const c of children) c.kill('SIGTERM');
        setTimeout(() => process.exit(0), 2000).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    await Promise.all(ready);

    const queue = new Queue(QUEUE, { connection: connection(a.redis) });
    const opts = { attempts: a.attempts, backoff: { type: 'exponential', delay: 1000 } };
    const t0 = Date.now();
    let n = 0;
    let batch = [];
    const lines = readline.createInterface({ input: fs.createReadStream(a.events), crlfDelay: Infinity });
    for await (const line of lines) {
        if (!line) continue;
        const ev = JSON.parse(line);
        batch.push({ name: ev.type, data: { id: ev.id, type: ev.type, body: line }, opts });
        if (batch.length === 1000) {
            await queue.addBulk(batch);
            n += batch.length;
            batch = [];
        }
    }
    if (batch.length) {
        await queue.addBulk(batch);
        n += batch.length;
    }
    const ms = Date.now() - t0;
    console.log(`published=${n} ms=${ms} rate=${ms ? Math.round(n * 1000 / ms) : 0}`);
    await queue.close();
}

const args = parseArgs(process.argv.slice(2));
if (args.role === 'worker') {
    runWorker(args);
} else {
    runMain(args).catch((e) => {
        console.error(e.message);
        process.exit(1);
    });
}
