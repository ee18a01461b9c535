/**
 * The admin port under hostile clients: password guessing is throttled per address and per
 * user name (another user's success forgives nothing, concurrent guesses get no extra
 * tries), slow requests are cut off, a refusal does not wait for the body, and what Node's
 * parser rejects still gets the documented `{error, description}` body.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { connect } from 'node:net';
import { ADMIN, asAdmin, TEST_CONFIG, useTestWeir } from '../harness/weir.ts';

const REQUEST_TIMEOUT_MS = 600;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Writes `head`, then the body one byte every `everyMs`; resolves with what came back once the server closed. */
function slowRequest(
  port: number,
  head: string,
  body: string,
  everyMs: number,
): Promise<{ reply: string; bodyBytesSent: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (sent < body.length && !socket.destroyed) socket.write(body[sent++]!);
      }, everyMs);
    });
    socket.on('data', (d) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ reply, bodyBytesSent: sent });
    });
  });
}

/** Sends raw bytes; resolves with the reply once the server closed the connection. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let reply = '';
    socket.on('data', (d) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(reply));
  });
}

function parseReply(reply: string): {
  status: number;
  headers: string;
  body: { error?: string; description?: string };
} {
  const [head, body] = reply.split('\r\n\r\n', 2) as [string, string];
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), headers: head, body: body ? JSON.parse(body) : {} };
}

describe('the admin port under hostile clients', () => {
  const box = useTestWeir({
    config: TEST_CONFIG.replace(
      '[maxscale]\n',
      `[maxscale]\nadmin_request_timeout=${REQUEST_TIMEOUT_MS}ms\nadmin_headers_timeout=400ms\nadmin_keepalive_timeout=300ms\nadmin_idle_timeout=60000ms\n`,
    ),
  });
  const port = () => Number(new URL(box.t.weir.adminUrl).port);

  test(
    'a body sent a byte at a time is cut off by admin_request_timeout with a 408 and the error body',
    { timeout: 30_000 },
    async () => {
      // Valid credentials: the request gets as far as reading its body.
      await asAdmin(box.t.http.get('/servers')).expect(200);
      const body = JSON.stringify({ name: 'slow', address: '127.0.0.1', port: 3306 }).padEnd(400, ' ');
      const { reply, bodyBytesSent } = await slowRequest(
        port(),
        `POST /servers HTTP/1.1\r\nHost: weir\r\nAuthorization: ${basic(ADMIN.user, ADMIN.password)}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
        body,
        20,
      );
      assert.ok(bodyBytesSent < body.length, `cut off after ${bodyBytesSent} of ${body.length} bytes`);
      const { status, headers, body: error } = parseReply(reply);
      assert.equal(status, 408);
      assert.match(headers, /content-type: application\/json/i);
      assert.equal(error.error, 'Request Timeout');
      assert.match(error.description!, /admin_request_timeout \(600 ms\)/);
      await asAdmin(box.t.http.get('/servers/slow')).expect(404);
    },
  );

  test(
    'headers sent a line at a time are cut off by admin_headers_timeout with a 408',
    { timeout: 30_000 },
    async () => {
      const { reply } = await slowRequest(port(), 'GET /servers HTTP/1.1\r\n', 'X-Slow: 1\r\n'.repeat(100), 20);
      const { status, body } = parseReply(reply);
      assert.equal(status, 408);
      assert.match(body.description!, /admin_headers_timeout \(400 ms\)/);
    },
  );

  test('an idle kept-alive connection is closed after admin_keepalive_timeout', { timeout: 30_000 }, async () => {
    // One complete request, then silence: the server closes (the close event ends the wait).
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(port(), '127.0.0.1', () =>
        socket.write(
          `GET /servers HTTP/1.1\r\nHost: weir\r\nAuthorization: ${basic(ADMIN.user, ADMIN.password)}\r\n\r\n`,
        ),
      );
      let got = '';
      socket.on('data', (d) => (got += d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(got));
    });
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.match(reply, /keep-alive/i);
  });

  test('an early 401 closes the connection instead of waiting for the body', { timeout: 30_000 }, async () => {
    const { reply, bodyBytesSent } = await slowRequest(
      port(),
      'POST /servers HTTP/1.1\r\nHost: weir\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n',
      '{'.repeat(100_000),
      5,
    );
    const { status, headers, body } = parseReply(reply);
    assert.equal(status, 401);
    assert.match(headers, /connection: close/i);
    assert.equal(body.error, 'Unauthorized');
    assert.ok(bodyBytesSent < 100_000);
  });

  test('an over-long URL or header gets a 431, a malformed request a 400, both with the documented error body', async () => {
    const long = parseReply(
      await rawExchange(port(), `GET /servers?${'x'.repeat(20_000)} HTTP/1.1\r\nHost: weir\r\n\r\n`),
    );
    assert.equal(long.status, 431);
    assert.equal(long.body.error, 'Request Header Fields Too Large');
    assert.match(long.body.description!, /16 KiB/);
    const header = parseReply(
      await rawExchange(port(), `GET /servers HTTP/1.1\r\nHost: weir\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`),
    );
    assert.equal(header.status, 431);
    assert.match(header.headers, /content-type: application\/json/i);
    const garbage = parseReply(await rawExchange(port(), 'HELLO THERE\r\n\r\n'));
    assert.equal(garbage.status, 400);
    assert.equal(garbage.body.error, 'Bad Request');
    assert.match(garbage.body.description!, /not valid HTTP/);
    await asAdmin(box.t.http.get('/servers')).expect(200);
  });

  test(
    "guessing the admin's password: a basic user's valid logins forgive nothing, and concurrent guesses are refused (429) instead of verified",
    { timeout: 60_000 },
    async () => {
      await asAdmin(box.t.http.post('/users')).send({ name: 'reader', password: 'r3ad', role: 'basic' }).expect(201);
      for (let i = 0; i < 5; i++) {
        await box.t.http.get('/servers').auth(ADMIN.user, `wrong${i}`).expect(401);
        await box.t.http.get('/servers').auth('reader', 'r3ad').expect(200);
      }
      // 20 guesses at once: at most 5 get a slot within 10 s (0, 0.5, 1.5, 3.5, 7.5 s), the rest are refused at once.
      const statuses: number[] = [];
      const requests: ClientRequest[] = [];
      let tooMany: { body: string; retryAfter?: string } | undefined;
      await new Promise<void>((enough) => {
        const settle = () => {
          if (statuses.filter((s) => s === 429).length >= 14 || statuses.length === 20) enough();
        };
        for (let i = 0; i < 20; i++) {
          const req = httpRequest(
            {
              port: port(),
              host: '127.0.0.1',
              path: '/servers',
              agent: false,
              headers: { Authorization: basic(ADMIN.user, `guess${i}`) },
            },
            (res) => {
              let body = '';
              res.on('data', (d) => (body += d));
              res.on('end', () => {
                statuses.push(res.statusCode!);
                if (res.statusCode === 429) tooMany = { body, retryAfter: res.headers['retry-after'] };
                settle();
              });
            },
          );
          req.on('error', () => undefined);
          req.end();
          requests.push(req);
        }
      });
      for (const r of requests) r.destroy();
      assert.ok(statuses.filter((s) => s === 429).length >= 14, `statuses: ${statuses.join(' ')}`);
      assert.ok(statuses.filter((s) => s === 401).length <= 2, `statuses: ${statuses.join(' ')}`);
      const error = JSON.parse(tooMany!.body) as { error: string; description: string };
      assert.equal(error.error, 'Too Many Requests');
      assert.match(error.description, /Too many failed logins/);
      assert.ok(Number(tooMany!.retryAfter) >= 1);
      // Credentials verified a moment ago are recognised without a slot: the admin is not locked out.
      await asAdmin(box.t.http.get('/servers')).expect(200);
    },
  );
});
