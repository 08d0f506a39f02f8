// The dashboard in a real browser (Debian's chromium, driven by the pinned
// playwright-core). tests/e2e/test_dashboard.c starts Redis, the scheduler,
// the worker, psw-api and the recording receiver, prepares data, runs
//     node tests/browser/dashboard.mjs SCENARIO
// and then checks what the receiver and Redis saw. This script does what a
// user does in the page, checks what the page shows, and writes what the C
// side needs (ids, the secret shown, statuses, timings) as one JSON object to
// $PSW_OUT. It exits 1 with a message when the page does not behave.
//
// Every scenario fails when the page logs a console error or throws; the only
// messages allowed are the browser's own "Failed to load resource" lines for
// the statuses a scenario provokes on purpose (a used link's 401, another
// account's 404, a refused forgery's 403).
//
// Environment: PSW_API (base URL), PSW_TOKEN (account token to paste),
// PSW_ADMIN_TOKEN, PSW_LINK (dashboard link), PSW_EP, PSW_EP_OTHER,
// PSW_ACCOUNT, PSW_DLV, PSW_RX (receiver base URL), PSW_OPT_URL and
// PSW_OPT_HEADER (the options scenario), PSW_SHOTS (screenshot
// folder, optional), PSW_OUT (result file), CHROMIUM (default /usr/bin/chromium).

import { chromium } from 'playwright-core';
import { writeFileSync, mkdirSync } from 'node:fs';

const env = process.env;
const API = env.PSW_API;
const SHOTS = env.PSW_SHOTS || '';
const T = Number(env.PSW_BROWSER_TIMEOUT_MS) || 20000;
const VIEWPORTS = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];
const out = {};

function check(cond, what) {
    if (!cond) throw new Error(`check failed: ${what}`);
}

async function launch() {
    return chromium.launch({
        executablePath: env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        // the machine's proxy settings must not apply to 127.0.0.1
        args: ['--no-proxy-server', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
        env: { ...env, TZ: env.PSW_TZ || 'Europe/Berlin' },
    });
}

// A fresh browser profile (no cookies) and a page whose errors are recorded.
async function newPage(browser, opts = {}) {
    const context = await browser.newContext({
        viewport: VIEWPORTS[0], bypassCSP: !!opts.bypassCSP, timezoneId: 'Europe/Berlin', locale: 'en-GB',
    });
    context.setDefaultTimeout(T);
    const page = await context.newPage();
    page.errors = [];
    const allowed = opts.allowStatuses || [];
    page.on('console', (m) => {
        if (m.type() !== 'error') return;
        const t = m.text();
        const st = t.match(/Failed to load resource: the server responded with a status of (\d+)/);
        if (st && allowed.includes(Number(st[1]))) return;
        page.errors.push(`console: ${t}`);
    });
    page.on('pageerror', (e) => page.errors.push(`exception: ${e.message}`));
    return { context, page };
}

function noErrors(page, where) {
    check(page.errors.length === 0, `no console errors on ${where}: ${page.errors.join(' | ')}`);
}

// Screenshots only when asked for (PSW_SHOTS): they are slow on a busy machine.
async function shot(page, name) {
    if (!SHOTS) return;
    mkdirSync(SHOTS, { recursive: true });
    const size = page.viewportSize();
    for (const vp of VIEWPORTS) {
        await page.setViewportSize(vp);
        await page.waitForTimeout(150);
        await page.screenshot({ path: `${SHOTS}/${name}-${vp.width}.png`, fullPage: true, animations: 'disabled' });
    }
    await page.setViewportSize(size);
}

const poll = '?poll=400';

// The page is done with a navigation when main carries data-ready.
async function ready(page) {
    await page.waitForFunction(() => document.getElementById('main').dataset.ready !== undefined &&
        !document.querySelector('main > .loading'));
}

async function go(page, hash) {
    await page.evaluate((h) => {
        delete document.getElementById('main').dataset.ready;
        location.hash = h;
    }, hash);
    await ready(page);
}

async function loginWithToken(page, token) {
    await page.goto(`${API}/${poll}#/endpoints`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#nav').waitFor({ state: 'visible' });
    await ready(page);
}

async function publish(body) {
    const r = await fetch(`${API}/v1/events`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${env.PSW_ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
    });
    const j = await r.json();
    check(r.status === 202, `publish answered ${r.status}: ${JSON.stringify(j)}`);
    return j.results ? j.results[0] : j;
}

function event(type, extra = {}) {
    return Object.assign({
        type, account_id: env.PSW_ACCOUNT, domain: 'mail.example.com',
        data: { message_id: `<m${Date.now()}@mail.example.com>`, to: 'alice@example.org' },
    }, extra);
}

const row = (page, id) => page.locator(`tr[data-delivery="${id}"]`);

// ---- scenarios ---------------------------------------------------------------

const scenarios = {
    // 1. The dashboard link logs in once and leaves the address bar; a second
    //    use is refused with a message on the login screen.
    async link(browser) {
        const link = env.PSW_LINK.startsWith('http') ? env.PSW_LINK : API + env.PSW_LINK;
        const { page } = await newPage(browser);
        await page.goto(link);
        await page.locator('#nav').waitFor({ state: 'visible' });
        await ready(page);
        out.hash_after = await page.evaluate(() => location.hash);
        check(!out.hash_after.includes('login='), `the code is gone from the address bar (${out.hash_after})`);
        out.who = await page.locator('#who-label').textContent();
        check(out.who.includes(env.PSW_ACCOUNT), `logged in as the account (${out.who})`);
        const cookies = await page.context().cookies(API);
        const c = cookies.find((x) => x.name === 'psw_session');
        check(c && c.httpOnly && c.sameSite === 'Strict', `HttpOnly SameSite=Strict cookie (${JSON.stringify(c)})`);
        out.cookie_readable_by_script = await page.evaluate(() => document.cookie.includes('psw_session'));
        check(!out.cookie_readable_by_script, 'the page cannot read the session cookie');
        await shot(page, 'endpoints');
        noErrors(page, 'link login');

        const second = await newPage(browser, { allowStatuses: [400, 401, 404, 410] });
        await second.page.goto(link);
        const err = second.page.locator('form.login .msg.error');
        await err.waitFor({ state: 'visible' });
        out.second_error = await err.textContent();
        check(await second.page.locator('#nav').isHidden(), 'not logged in the second time');
        await shot(second.page, 'login');
        noErrors(second.page, 'used link');

        // logout ends the session: a reload shows the login form
        await page.getByRole('button', { name: 'Log out' }).click();
        await page.locator('form.login').waitFor({ state: 'visible' });
        const after = await page.context().cookies(API);
        out.cookie_after_logout = (after.find((x) => x.name === 'psw_session') || {}).value || '';
        noErrors(page, 'logout');
    },

    // 2. An endpoint and its deliveries appear without a reload.
    async live(browser) {
        const { page } = await newPage(browser);
        await loginWithToken(page, env.PSW_TOKEN);
        const card = page.locator(`article[data-endpoint="${env.PSW_EP}"]`);
        await card.waitFor();
        out.card_text = await card.textContent();
        await go(page, `#/endpoints/${env.PSW_EP}`);
        const empty = page.locator('.empty:visible');
        await empty.waitFor();
        out.empty_text = await empty.textContent();
        await shot(page, 'endpoint-empty');
        const r = await publish(event('email.delivered'));
        out.event_id = r.event_id;
        const tr = page.locator('tr[data-delivery]').first();
        await tr.waitFor();
        await page.locator('tr[data-delivery] .s-delivered').first().waitFor();
        out.delivery_id = await tr.getAttribute('data-delivery');
        out.rows = await page.locator('tr[data-delivery]').count();
        // times: local text with UTC on hover
        const t = tr.locator('time').first();
        out.time_title = await t.getAttribute('title');
        check(/UTC$/.test(out.time_title), `UTC in the title (${out.time_title})`);
        await tr.getByRole('button', { name: 'Details' }).click();
        await page.locator('.attempt').first().waitFor();
        out.attempt_text = await page.locator('.attempt').first().textContent();
        await shot(page, 'endpoint-detail');
        // the filters: a state with no delivery empties the list and says so
        await page.getByLabel('State', { exact: true }).selectOption('failed');
        await page.getByRole('button', { name: 'Apply filters' }).click();
        await page.getByText('No deliveries match these filters').waitFor();
        out.filtered_rows = await page.locator('tr[data-delivery]').count();
        await page.getByLabel('State', { exact: true }).selectOption('');
        await page.getByLabel('Event type', { exact: true }).fill('email.delivered');
        await page.getByRole('button', { name: 'Apply filters' }).click();
        await page.locator('tr[data-delivery]').first().waitFor();
        out.type_rows = await page.locator('tr[data-delivery]').count();
        // the list shows the 24 h numbers once the stats are in
        await go(page, '#/endpoints');
        await page.waitForFunction((id) => {
            const c = document.querySelector(`article[data-endpoint="${id}"] .stats`);
            return c && /100 %/.test(c.textContent);
        }, env.PSW_EP);
        out.list_stats = await page.locator(`article[data-endpoint="${env.PSW_EP}"] .stats`).textContent();
        noErrors(page, 'live');
    },

    // 3. After auto-disable: the banner with the reason, and the alert.
    async disabled(browser) {
        const { page } = await newPage(browser);
        await loginWithToken(page, env.PSW_TOKEN);
        const banner = page.locator(`article[data-endpoint="${env.PSW_EP}"] .banner`);
        await banner.waitFor();
        out.banner = await banner.textContent();
        check(await banner.getByRole('button', { name: 'Enable' }).isVisible(), 'an Enable button on the banner');
        check((await banner.locator('time').count()) === 1, 'the time of the disable');
        await page.waitForFunction((id) => /%/.test(
            (document.querySelector(`article[data-endpoint="${id}"] .stats`) || {}).textContent || ''), env.PSW_EP);
        out.card_stats = await page.locator(`article[data-endpoint="${env.PSW_EP}"] .stats`).textContent();
        await shot(page, 'endpoints-disabled');
        await go(page, '#/alerts');
        const alertRow = page.locator('tbody tr', { hasText: env.PSW_EP });
        await alertRow.first().waitFor();
        out.alert = await alertRow.first().textContent();
        await shot(page, 'alerts');
        noErrors(page, 'disabled');
    },

    // 4. Enable from the banner, then replay the range: count, confirm, progress.
    async recover(browser) {
        const { page } = await newPage(browser);
        await loginWithToken(page, env.PSW_TOKEN);
        await go(page, `#/endpoints/${env.PSW_EP}`);
        await page.locator('.banner').getByRole('button', { name: 'Enable' }).click();
        await page.locator('header .s-enabled').waitFor();
        check(await page.locator('.banner').count() === 0, 'the banner is gone');
        await page.getByText('Replay a date range').click();
        await page.getByRole('button', { name: 'Count matching deliveries' }).click();
        const confirm = page.locator('.confirm');
        await confirm.waitFor();
        out.confirm_text = await confirm.textContent();
        out.matched = Number((out.confirm_text.match(/(\d+) deliver/) || [])[1]);
        await shot(page, 'replay-confirm');
        await confirm.getByRole('button', { name: /^Replay \d+/ }).click();
        const label = page.locator('.progress p');
        await page.waitForFunction(() => /^Done:/.test((document.querySelector('.progress p') || {}).textContent || ''),
            null, { timeout: 45000 });
        out.progress = await label.textContent();
        await shot(page, 'replay-done');
        noErrors(page, 'recover');
    },

    // 5. Replay one delivery from its row.
    async replayone(browser) {
        const { page } = await newPage(browser);
        await loginWithToken(page, env.PSW_TOKEN);
        await go(page, `#/endpoints/${env.PSW_EP}`);
        const tr = row(page, env.PSW_DLV);
        await tr.waitFor();
        await tr.getByRole('button', { name: 'Replay' }).click();
        await tr.locator('.msg.ok').waitFor();
        out.replay_msg = await page.locator(`tr[data-delivery="${env.PSW_DLV}"] .msg`).textContent();
        noErrors(page, 'replay one');
    },

    // 6. Rotate: the new secret once, a copy button, the grace period; reveal;
    //    then a test event signed with both secrets.
    async rotate(browser) {
        const { page, context } = await newPage(browser);
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: API });
        await loginWithToken(page, env.PSW_TOKEN);
        await go(page, `#/endpoints/${env.PSW_EP}`);
        await page.getByRole('button', { name: 'Rotate secret' }).click();
        await page.getByLabel('Grace period').fill('1h');
        await page.locator('form').getByRole('button', { name: 'Rotate secret' }).click();
        const box = page.locator('.secretbox');
        await box.waitFor();
        out.new_secret = (await box.locator('code.secret').textContent()).trim();
        out.grace_text = await box.locator('.grace').textContent();
        check(/until/.test(out.grace_text), `grace period shown (${out.grace_text})`);
        await box.getByRole('button', { name: 'Copy' }).click();
        await box.locator('.msg.ok').waitFor();
        out.clipboard = await page.evaluate(() => navigator.clipboard.readText());
        check(out.clipboard === out.new_secret, 'the copy button copies the secret');
        await shot(page, 'rotate');
        await page.getByRole('button', { name: 'Reveal secret' }).click();
        await page.getByRole('button', { name: 'Show the current secret' }).click();
        const shown = page.locator('.actionarea dl code.secret').first();
        await shown.waitFor();
        out.revealed = (await shown.textContent()).trim();
        check(out.revealed === out.new_secret, 'reveal shows the current (new) secret');
        await page.getByRole('button', { name: 'Send test event' }).click();
        await page.locator('form').getByRole('button', { name: 'Send test event' }).click();
        const msg = page.locator('.actionarea .msg.ok');
        await msg.waitFor();
        out.test_msg = await msg.textContent();
        out.test_event_id = (out.test_msg.match(/Sent (\S+):/) || [])[1];
        check(out.test_event_id, `the test event's id is shown (${out.test_msg})`);
        await go(page, '#/audit');
        await page.locator('tbody tr').first().waitFor();
        out.audit = await page.locator('tbody').textContent();
        await shot(page, 'audit');
        noErrors(page, 'rotate');
    },

    // 7. What a receiver answered is shown as text and runs nothing, even
    //    with the Content-Security-Policy switched off in this browser.
    async xss(browser) {
        const { page } = await newPage(browser, { bypassCSP: true });
        await page.addInitScript(() => {
            window.__xss = 0;
            window.alert = () => { window.__xss = 1; };
        });
        await loginWithToken(page, env.PSW_TOKEN);
        await go(page, `#/endpoints/${env.PSW_EP}`);
        const tr = row(page, env.PSW_DLV);
        await tr.waitFor();
        await tr.getByRole('button', { name: 'Details' }).click();
        const body = page.locator('pre.body').first();
        await body.waitFor();
        await page.waitForTimeout(500); // let an injected onerror fire, if any
        out.body_text = await body.textContent();
        out.headers_text = await page.locator('.attempt .headers').last().textContent();
        out.flag = await page.evaluate(() => window.__xss);
        out.images = await page.evaluate(() => document.images.length);
        out.scripts = await page.evaluate(() => document.scripts.length);
        check(out.flag === 0, 'no script ran');
        check(out.images === 0, 'no img element was made');
        check(out.scripts === 1, 'only the page\'s own script element');
        await shot(page, 'delivery-detail');
        noErrors(page, 'xss');
    },

    // 8. A forged form POST: from another origin on the same site the cookie
    //    is sent but there is no CSRF token (403); from another site
    //    SameSite=Strict keeps the cookie home (401). Either way nothing changes.
    async csrf(browser) {
        const { page } = await newPage(browser, { allowStatuses: [401, 403] });
        await loginWithToken(page, env.PSW_TOKEN);
        const target = `${API}/v1/endpoints/${env.PSW_EP}/disable`;
        const form = `<!doctype html><form method="post" action="${target}" enctype="text/plain">` +
            '<input type="hidden" name=\'{"reason":"forged","x":"\' value=\'"}\'>' +
            '<button type="submit">win a prize</button></form>';
        const origins = { same_site: env.PSW_RX, cross_site: env.PSW_RX.replace('127.0.0.1', 'localhost') };
        for (const [name, origin] of Object.entries(origins)) {
            await page.route(`${origin}/attack`, (r) => r.fulfill({ contentType: 'text/html', body: form }));
            await page.goto(`${origin}/attack`);
            const [resp] = await Promise.all([
                page.waitForResponse((r) => r.url() === target),
                page.getByRole('button', { name: 'win a prize' }).click(),
            ]);
            const headers = await resp.request().allHeaders();
            out[`${name}_status`] = resp.status();
            out[`${name}_cookie_sent`] = /psw_session=/.test(headers.cookie || '');
        }
        check(out.same_site_cookie_sent, 'the same-site forgery carried the cookie (so the CSRF check is what refused it)');
        check(out.same_site_status === 403, `same-site forgery refused with 403 (${out.same_site_status})`);
        check(!out.cross_site_cookie_sent, 'SameSite=Strict: no cookie cross-site');
        check(out.cross_site_status === 401 || out.cross_site_status === 403, `cross-site refused (${out.cross_site_status})`);
        noErrors(page, 'csrf');
    },

    // 9. Another account's endpoint by URL: not found, nothing of it shown.
    async isolation(browser) {
        const { page } = await newPage(browser, { allowStatuses: [404] });
        await loginWithToken(page, env.PSW_TOKEN);
        const statuses = [];
        page.on('response', (r) => { if (r.url().includes(env.PSW_EP_OTHER)) statuses.push(r.status()); });
        await go(page, `#/endpoints/${env.PSW_EP_OTHER}`);
        await page.getByRole('heading', { name: 'Endpoint not found' }).waitFor();
        out.page_text = await page.locator('main').textContent();
        check(!out.page_text.includes(env.PSW_OTHER_URL), 'the other endpoint\'s URL is not shown');
        // the same through the API with this session's cookie and CSRF token
        out.api = await page.evaluate(async (id) => {
            const csrf = sessionStorage.getItem('psw_csrf');
            const g = await fetch(`/v1/endpoints/${id}/deliveries`);
            const s = await fetch(`/v1/endpoints/${id}/secret`);
            const p = await fetch(`/v1/endpoints/${id}/disable`, {
                method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: '{}',
            });
            return { deliveries: g.status, secret: s.status, disable: p.status };
        }, env.PSW_EP_OTHER);
        out.statuses = statuses;
        await go(page, '#/endpoints');
        out.list_text = await page.locator('main').textContent();
        check(!out.list_text.includes(env.PSW_EP_OTHER), 'the list has only this account\'s endpoints');
        noErrors(page, 'isolation');

        // an admin session switches between accounts
        const adm = await newPage(browser);
        await loginWithToken(adm.page, env.PSW_ADMIN_TOKEN);
        await adm.page.locator(`article[data-endpoint="${env.PSW_EP_OTHER}"]`).waitFor();
        await adm.page.locator('#account-input').fill(env.PSW_ACCOUNT);
        await adm.page.getByRole('button', { name: 'Switch' }).click();
        await adm.page.locator(`article[data-endpoint="${env.PSW_EP}"]`).waitFor();
        out.admin_switched = await adm.page.locator('main').textContent();
        check(!out.admin_switched.includes(env.PSW_EP_OTHER), 'the admin sees only the chosen account');
        noErrors(adm.page, 'admin switch');
    },

    // 10. Delivery options through the forms: create with Standard Webhooks
    //     signing, a rate limit, batches, ordered and a static header; the admin API
    //     holds them and the detail screen shows them (the header masked). Then an
    //     edit that leaves the headers untouched switches to Ed25519, batching
    //     off and ordered off: the public key appears with a copy button.
    async options(browser) {
        const { page, context } = await newPage(browser);
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: API });
        await loginWithToken(page, env.PSW_TOKEN);
        await page.locator('details.create summary').click();
        const form = page.locator('details.create form');
        await form.getByLabel('URL').fill(env.PSW_OPT_URL);
        await form.getByLabel('Event types').fill('email.bounced');
        await form.getByLabel('Signing').selectOption('standard');
        await form.getByLabel('Rate limit').fill('5');
        await form.getByLabel('Batch size').fill('50');
        await form.getByLabel('Batch wait').fill('750ms');
        await form.getByLabel('Ordered', { exact: true }).check();
        await form.getByLabel('Static headers').fill(env.PSW_OPT_HEADER);
        await form.getByRole('button', { name: 'Create endpoint' }).click();
        await page.locator('.secretbox').waitFor();
        const card = page.locator('article.ep', { has: page.locator('a.url', { hasText: env.PSW_OPT_URL }) });
        await card.waitFor();
        out.ep = await card.getAttribute('data-endpoint');
        check(out.ep, 'the new endpoint is listed');
        const r = await fetch(`${API}/v1/endpoints/${out.ep}`,
            { headers: { Authorization: `Bearer ${env.PSW_ADMIN_TOKEN}` } });
        check(r.status === 200, `GET the new endpoint answered ${r.status}`);
        out.after_create = await r.json();

        await go(page, `#/endpoints/${out.ep}`);
        const facts = page.locator('section.detail dl.facts').first();
        out.detail_created = await facts.textContent();
        await shot(page, 'endpoint-options');

        await page.getByRole('button', { name: 'Edit' }).click();
        const edit = page.locator('.actionarea form');
        out.headers_disabled = await edit.getByLabel('Static headers').isDisabled();
        out.headers_placeholder = await edit.getByLabel('Static headers').getAttribute('placeholder');
        check(await edit.getByLabel('Rate limit').inputValue() === '5', 'the edit form shows the rate limit');
        check(await edit.getByLabel('Signing').inputValue() === 'standard', 'the edit form shows the signing');
        check(await edit.getByLabel('Batch size').inputValue() === '50', 'the edit form shows the batch size');
        check(await edit.getByLabel('Batch wait').inputValue() === '750ms', 'the edit form shows the batch wait');
        check(await edit.getByLabel('Ordered', { exact: true }).isChecked(), 'the edit form shows ordered');
        await edit.getByLabel('Ordered', { exact: true }).uncheck();
        await edit.getByLabel('Signing').selectOption('ed25519');
        await edit.getByLabel('Rate limit').fill('7');
        await edit.getByLabel('Batch size').fill('0'); // batching off again
        await edit.getByLabel('Batch wait').fill('');
        await edit.getByRole('button', { name: 'Save' }).click();
        await page.locator('.actionarea .msg.ok').waitFor();
        const key = page.locator('section.detail dl.facts').first().locator('code.secret');
        await key.waitFor();
        out.public_key = (await key.textContent()).trim();
        out.detail_edited = await page.locator('section.detail dl.facts').first().textContent();
        await page.locator('section.detail dl.facts').first().getByRole('button', { name: 'Copy' }).click();
        out.clipboard = await page.evaluate(() => navigator.clipboard.readText());
        check(out.clipboard === out.public_key, 'the copy button copies the public key');
        await shot(page, 'endpoint-options-ed25519');
        noErrors(page, 'options');
    },

    // The endpoint-detail screen of a big endpoint: time from navigation
    // until the first page of deliveries is on screen and a row's Details
    // button works (bench/dashboard.sh).
    async perf(browser) {
        const { page } = await newPage(browser);
        await loginWithToken(page, env.PSW_TOKEN);
        const runs = [];
        for (let i = 0; i < Number(env.PSW_PERF_RUNS || 5); i++) {
            await go(page, '#/alerts');
            const t0 = Date.now();
            await page.evaluate((h) => { location.hash = h; }, `#/endpoints/${env.PSW_EP}`);
            await page.locator('tr[data-delivery]').first().waitFor();
            const interactive = Date.now() - t0;
            await page.locator('tr[data-delivery]').first().getByRole('button', { name: 'Details' }).click();
            await page.locator('.attempt, .ddetail .empty').first().waitFor();
            runs.push({ interactive_ms: interactive, details_ms: Date.now() - t0 });
        }
        out.runs = runs;
        out.rows = await page.locator('tr[data-delivery]').count();
        noErrors(page, 'perf');
    },
};

const name = process.argv[2];
if (!scenarios[name]) {
    console.error(`usage: dashboard.mjs ${Object.keys(scenarios).join('|')}`);
    process.exit(2);
}
const browser = await launch();
let rc = 0;
try {
    await scenarios[name](browser);
    out.ok = true;
} catch (e) {
    out.ok = false;
    out.error = String(e && e.stack || e);
    console.error(`dashboard.mjs ${name}: ${e && e.message}`);
    rc = 1;
} finally {
    await browser.close();
}
if (env.PSW_OUT) writeFileSync(env.PSW_OUT, JSON.stringify(out));
else console.log(JSON.stringify(out));
process.exit(rc);
