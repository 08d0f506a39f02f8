// The PostStack Webhooks dashboard (docs/dashboard.md): one page, plain
// JavaScript, talking to the psw-api JSON API of docs/api.md with the session
// cookie.
//
// Rules this file keeps:
// - Everything that comes from the API, and above all what a receiver controls
//   (response bodies, headers, errors), reaches the page as text: the DOM is
//   built with h() below, which only ever creates text nodes for content. Nothing
//   is ever parsed as HTML, and there are no inline handlers (the CSP forbids them).
// - Every change (POST/PATCH/DELETE) carries the X-CSRF-Token the page got at
//   login; reads carry the admin's chosen account as ?account=.
// - An error from the API is shown next to the control that caused it.

const state = {
    session: null,   // {account_id, admin, csrf_token, expires_at}
    account: '',     // admin only: the account being looked at ('' = all)
    timers: [],      // polling timers of the current view, cleared on navigation
    view: 0,         // bumped on every navigation; stale async work checks it
};

const params = new URLSearchParams(location.search);
const POLL_MS = Math.max(200, Number(params.get('poll')) || 3000);
const STATES = ['pending', 'in_flight', 'scheduled', 'delivered', 'failed', 'skipped'];
const ACTIVE = new Set(['pending', 'in_flight', 'scheduled']);

const main = document.getElementById('main');

// ---- DOM helpers --------------------------------------------------------

// h('tag', {class, attrs…, onclick: fn}, children…): strings become text
// nodes, so API data can never turn into markup.
function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (v === true) el.setAttribute(k, '');
        else el.setAttribute(k, String(v));
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children.flat(Infinity)) {
        if (c === null || c === undefined || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

// replaceChildren() would print null as "null": skip the empty parts.
function fill(el, ...children) {
    el.replaceChildren();
    return append(el, children);
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

// A labelled input: returns {row, input}.
function field(label, input, hint) {
    const id = input.id || (input.id = nextId('f'));
    const row = h('div', { class: 'field' }, h('label', { for: id }, label), input,
        hint ? h('small', { class: 'hint' }, hint) : null);
    return { row, input };
}

// An error/status line that sits next to an action (role=alert: read out).
function msgLine() {
    const el = h('p', { class: 'msg', role: 'status', 'aria-live': 'polite' });
    el.show = (text, kind) => {
        el.textContent = text || '';
        el.className = 'msg' + (kind ? ' ' + kind : '');
        if (kind === 'error') el.setAttribute('role', 'alert');
        else el.setAttribute('role', 'status');
    };
    el.clear = () => el.show('');
    return el;
}

// Local time for reading, UTC on hover (title) and for machines (datetime).
function timeEl(v) {
    if (v === null || v === undefined || v === '') return h('span', { class: 'muted' }, '—');
    const d = typeof v === 'number' ? new Date(v) : new Date(v);
    if (Number.isNaN(d.getTime())) return h('span', {}, String(v));
    const iso = d.toISOString();
    return h('time', { datetime: iso, title: iso.replace('T', ' ').replace('Z', ' UTC') },
        d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }));
}

function badge(status) {
    return h('span', { class: `badge s-${String(status).replace(/[^a-z_]/g, '')}` }, status);
}

function button(label, onclick, extra) {
    return h('button', Object.assign({ type: 'button', onclick }, extra || {}), label);
}

// Runs fn with the button disabled and its error shown in msg.
async function busy(btn, msg, fn) {
    btn.disabled = true;
    msg && msg.clear();
    try {
        return await fn();
    } catch (e) {
        msg && msg.show(e.message, 'error');
        return undefined;
    } finally {
        btn.disabled = false;
    }
}

// datetime-local value (browser's zone) <-> ISO UTC
function localInputToIso(v) {
    if (!v) return '';
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}
function isoToLocalInput(ms) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// ---- API ------------------------------------------------------------------

class ApiError extends Error {
    constructor(status, problem) {
        const p = problem || {};
        let text = p.detail || p.title || `the server answered ${status}`;
        if (p.field) text += ` (field: ${p.field})`;
        super(text);
        this.status = status;
        this.problem = p;
    }
}

async function api(method, path, body) {
    let url = path;
    const headers = { Accept: 'application/json' };
    const admin = state.session && state.session.admin;
    if (admin && state.account && method === 'GET' && path.startsWith('/v1/') && path !== '/v1/session')
        url += (url.includes('?') ? '&' : '?') + 'account=' + encodeURIComponent(state.account);
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && state.session && state.session.csrf_token)
        headers['X-CSRF-Token'] = state.session.csrf_token;
    let res;
    try {
        res = await fetch(url, init);
    } catch (e) {
        throw new ApiError(0, { detail: `cannot reach the API (${e.message})` });
    }
    let data = null;
    if (res.status !== 204 && /json/.test(res.headers.get('Content-Type') || ''))
        data = await res.json().catch(() => null);
    if (!res.ok) {
        if (res.status === 401 && state.session && path !== '/v1/session') {
            state.session = null;
            localStorage.removeItem('psw_logged_in');
            showLogin('Your session has ended; log in again.');
        }
        throw new ApiError(res.status, data);
    }
    return data;
}

// Body fields an admin adds to choose the account.
function withAccount(body) {
    if (state.session && state.session.admin && state.account && !('account_id' in body))
        body.account_id = state.account;
    return body;
}

const enc = encodeURIComponent;

// ---- session --------------------------------------------------------------

function setSession(s) {
    if (s && !s.csrf_token) s.csrf_token = sessionStorage.getItem('psw_csrf') || '';
    state.session = s;
    localStorage.setItem('psw_logged_in', '1');
    if (s.csrf_token) sessionStorage.setItem('psw_csrf', s.csrf_token);
    document.getElementById('nav').hidden = false;
    document.getElementById('who').hidden = false;
    const form = document.getElementById('account-form');
    form.hidden = !s.admin;
    if (s.admin) state.account = sessionStorage.getItem('psw_account') || '';
    document.getElementById('account-input').value = state.account;
    document.getElementById('who-label').textContent =
        s.admin ? 'admin' : `account ${s.account_id}`;
}

async function login(body) {
    const s = await api('POST', '/v1/session', body);
    setSession(s);
}

function showLogin(message) {
    stopTimers();
    state.view++;
    document.getElementById('nav').hidden = true;
    document.getElementById('who').hidden = true;
    const msg = msgLine();
    const tok = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true,
        placeholder: 'psw_…', spellcheck: 'false' });
    const submit = h('button', { type: 'submit' }, 'Log in');
    const form = h('form', { class: 'card login', 'aria-labelledby': 'login-h' },
        h('h1', { id: 'login-h' }, 'Log in'),
        h('p', {}, 'Open the dashboard link you were given (it works once, for 10 minutes), ' +
            'or paste an API token. The token is sent once and is not kept by the page.'),
        field('API token', tok).row, submit, msg);
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        await busy(submit, msg, async () => {
            await login({ token: tok.value.trim() });
            tok.value = '';
            if (!location.hash.startsWith('#/')) location.hash = '#/endpoints';
            else route();
        });
    });
    if (message) msg.show(message, 'error');
    main.replaceChildren(form);
    tok.focus();
}

async function logout() {
    try { await api('DELETE', '/v1/session'); } catch (e) { /* gone already */ }
    state.session = null;
    localStorage.removeItem('psw_logged_in');
    sessionStorage.removeItem('psw_csrf');
    sessionStorage.removeItem('psw_account');
    history.replaceState(null, '', location.pathname + location.search);
    showLogin();
}

// ---- routing --------------------------------------------------------------

function stopTimers() {
    for (const t of state.timers) clearInterval(t);
    state.timers = [];
}

function every(ms, fn) {
    const view = state.view;
    let running = false;
    const t = setInterval(async () => {
        if (running || view !== state.view || document.hidden) return;
        running = true;
        try { await fn(); } catch (e) { /* shown by fn where it matters */ } finally { running = false; }
    }, ms);
    state.timers.push(t);
}

async function route() {
    if (!state.session) return;
    stopTimers();
    const view = ++state.view;
    const hash = location.hash || '#/endpoints';
    let m;
    for (const a of document.querySelectorAll('[data-nav]')) a.removeAttribute('aria-current');
    const navTo = (n) => {
        const a = document.querySelector(`[data-nav="${n}"]`);
        if (a) a.setAttribute('aria-current', 'page');
    };
    main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
    try {
        if ((m = hash.match(/^#\/endpoints\/([A-Za-z0-9_]+)$/))) {
            navTo('endpoints');
            await viewEndpoint(m[1], view);
        } else if (hash === '#/alerts') {
            navTo('alerts');
            await viewAlerts(view);
        } else if (hash === '#/audit') {
            navTo('audit');
            await viewAudit(view);
        } else {
            navTo('endpoints');
            await viewEndpoints(view);
        }
    } catch (e) {
        if (view !== state.view || !state.session) return;
        main.replaceChildren(h('section', { class: 'card' },
            h('h1', {}, 'Something went wrong'),
            h('p', { class: 'msg error', role: 'alert' }, e.message),
            h('p', {}, h('a', { href: '#/endpoints' }, 'Back to the endpoints'))));
    }
    if (view === state.view) {
        const h1 = main.querySelector('h1');
        document.title = (h1 ? h1.textContent + ' — ' : '') + 'PostStack Webhooks';
        main.dataset.ready = String(view);
    }
}

// ---- endpoints ------------------------------------------------------------

function eventsText(events) {
    if (events === '*' || events === undefined || events === null) return 'every event (*)';
    return Array.isArray(events) ? events.join(', ') : String(events);
}

function parseEvents(text) {
    const t = text.trim();
    if (t === '' || t === '*') return '*';
    return t.split(/[\s,]+/).filter(Boolean);
}

function pct(rate) {
    if (rate === null || rate === undefined) return '—';
    return `${(rate * 100).toFixed(rate >= 0.999 || rate === 0 ? 0 : 1)} %`;
}

// The numbers of /v1/endpoints/{id}/stats that the screens show.
function statsFacts(st) {
    const w = st || {};
    // last_status is the latest attempt's: it names the failure only while
    // the endpoint is still failing
    const failing = st && st.last_failure_at &&
        (!st.last_success_at || Date.parse(st.last_failure_at) > Date.parse(st.last_success_at));
    let lastErr = ['none'];
    if (failing)
        lastErr = [st.last_status ? `HTTP ${st.last_status}` : 'no answer', ' at ', timeEl(st.last_failure_at)];
    else if (st && st.last_failure_at)
        lastErr = [timeEl(st.last_failure_at), '; delivering again since ', timeEl(st.last_success_at)];
    return [
        ['Success (24 h)', w.success_rate_24h === undefined ? '—' : pct(w.success_rate_24h)],
        ['Deliveries (24 h)', w.deliveries_24h === undefined ? '—' : String(w.deliveries_24h)],
        ['Last failure', lastErr],
    ];
}

function factList(pairs) {
    return h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// The banner on a disabled endpoint, with its own Enable button and error line.
function disabledBanner(ep, onEnabled) {
    if (ep.status !== 'disabled') return null;
    const msg = msgLine();
    const btn = button('Enable', () => busy(btn, msg, async () => {
        const e2 = await api('POST', `/v1/endpoints/${enc(ep.id)}/enable`, {});
        onEnabled(e2);
    }), { class: 'primary' });
    return h('div', { class: 'banner', role: 'region', 'aria-label': 'Endpoint disabled' },
        h('p', {}, h('strong', {}, 'Disabled'), ' — ', ep.disabled_reason || 'no reason given',
            ep.disabled_at ? [' (', timeEl(ep.disabled_at), ')'] : null,
            ep.disabled_by ? ` by ${ep.disabled_by}` : null),
        h('p', {}, 'Nothing is sent to it while it is disabled; its events are recorded as skipped. ' +
            'Fix the receiver, enable it, then replay the missed range on its page.'),
        btn, msg);
}

const SIGNING = [
    ['poststack', 'PostStack (X-PostStack-Signature)'],
    ['standard', 'Standard Webhooks (HMAC, webhook-signature v1)'],
    ['ed25519', 'Ed25519 (webhook-signature v1a, public key)'],
];

// "Name: value" per line -> the API's array; blank lines are skipped.
function parseHeaders(text) {
    return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

// The delivery options of the create and edit forms (docs/dashboard.md):
// signing, rate limit, ordered, static headers. The stored headers come back masked,
// so on edit they are sent only when "Replace" is ticked.
function optionFields(ep) {
    const cur = (ep && ep.signing) || 'poststack';
    const signing = h('select', { name: 'signing' },
        SIGNING.map(([v, t]) => h('option', { value: v, selected: v === cur }, t)));
    const rate = h('input', { type: 'number', name: 'rate_limit', min: 0, max: 100000, step: 1,
        value: String((ep && ep.rate_limit) || 0) });
    const stored = (ep && Array.isArray(ep.headers)) ? ep.headers : [];
    const headers = h('textarea', { name: 'headers', rows: 3, spellcheck: 'false', autocomplete: 'off',
        placeholder: ep ? (stored.length ? stored.join('\n') : 'none') : 'Authorization: Basic dXNlcjpwYXNz' });
    const batch = h('input', { type: 'number', name: 'batch_max_events', min: 0, max: 1000, step: 1,
        value: String((ep && ep.batch && ep.batch.max_events) || 0) });
    const batchWait = h('input', { type: 'text', name: 'batch_max_wait', spellcheck: 'false',
        autocomplete: 'off', placeholder: '1s',
        value: (ep && ep.batch && ep.batch.max_wait) || '' });
    const ordered = h('input', { type: 'checkbox', name: 'ordered', checked: !!(ep && ep.ordered) });
    const rows = [
        field('Signing', signing, 'how requests are signed').row,
        field('Rate limit', rate, 'requests per second at most; 0 = no limit').row,
        field('Batch size', batch, 'events per request, 1 to 1000; 0 = one request per event').row,
        field('Batch wait', batchWait, 'a batch goes out once its oldest event waited this long, e.g. 500ms or 2s (default 1s)').row,
        field('Ordered', ordered,
            'one request at a time, in publish order (about one delivery per round trip)').row,
    ];
    let replace = null;
    if (ep) {
        replace = h('input', { type: 'checkbox', name: 'replace_headers' });
        headers.disabled = true;
        replace.addEventListener('change', () => { headers.disabled = !replace.checked; });
        rows.push(h('div', { class: 'field check' }, h('label', {}, replace,
            ` Replace the stored headers (${stored.length} now; shown masked)`)));
        rows.push(field('Static headers', headers,
            'one "Name: value" per line, the whole new set; empty removes them all').row);
    } else {
        rows.push(field('Static headers', headers, 'optional: one "Name: value" per line, up to 20').row);
    }
    // create sends only what differs from the defaults; edit sends the form's
    // values (the form stays open after Save, so a baseline would go stale)
    const apply = (body) => {
        const n = rate.value.trim() === '' ? 0 : Number(rate.value);
        if (ep || signing.value !== 'poststack') body.signing = signing.value;
        if (ep || n !== 0) body.rate_limit = n;
        const be = batch.value.trim() === '' ? 0 : Number(batch.value);
        const bw = batchWait.value.trim();
        if (be > 0) body.batch = bw ? { max_events: be, max_wait: bw } : { max_events: be };
        else if (ep && ep.batch) body.batch = null;
        if (ep || ordered.checked) body.ordered = ordered.checked;
        if (!replace || replace.checked) {
            const list = parseHeaders(headers.value);
            if (replace || list.length) body.headers = list;
        }
        return body;
    };
    return { rows, apply };
}

// The options on the detail screen; the public key gets a copy button.
function optionFacts(e) {
    const hs = Array.isArray(e.headers) ? e.headers : [];
    const pairs = [
        ['Signing', e.signing || 'poststack'],
        ['Rate limit', e.rate_limit ? `${e.rate_limit} requests/s` : 'no limit'],
        ['Batches', e.batch ? `up to ${e.batch.max_events} events per request, sent within ${e.batch.max_wait}` : 'off (one request per event)'],
        ['Ordered', e.ordered ? 'yes: one request at a time, in publish order' : 'no'],
        ['Static headers', hs.length ? h('ul', { class: 'hdrs' }, hs.map((x) => h('li', {}, h('code', {}, x)))) : 'none'],
    ];
    if (e.public_key) pairs.push(['Public key', copyLine(e.public_key)]);
    return pairs;
}

// A Copy button for the text of `out`; falls back to selecting it.
function copyButton(text, out, msg) {
    return button('Copy', async () => {
        try {
            await navigator.clipboard.writeText(text);
            msg.show('Copied.', 'ok');
        } catch (e) {
            const r = document.createRange();
            r.selectNodeContents(out);
            const sel = getSelection();
            sel.removeAllRanges();
            sel.addRange(r);
            msg.show('Selected: press Ctrl+C (or ⌘C) to copy.', 'ok');
        }
    });
}

function copyLine(text) {
    const msg = msgLine();
    const out = h('code', { class: 'secret' }, text);
    return h('div', { class: 'secretline' }, out, copyButton(text, out, msg), msg);
}

// Shown once after create or rotate: the secret with a copy button.
function secretBox(title, secret, extra) {
    const msg = msgLine();
    const out = h('code', { class: 'secret' }, secret);
    const copy = copyButton(secret, out, msg);
    return h('div', { class: 'secretbox', role: 'region', 'aria-label': title },
        h('h3', {}, title), h('p', {}, 'Shown once: copy it now. It is stored encrypted and is not shown again.'),
        h('div', { class: 'secretline' }, out, copy), extra || null, msg);
}

async function viewEndpoints(view) {
    const section = h('section', { 'aria-labelledby': 'eps-h' }, h('h1', { id: 'eps-h' }, 'Endpoints'));
    const listEl = h('div', { class: 'eplist' });
    const more = h('div');
    const created = h('div');
    section.append(createForm(created, () => route()), created, listEl, more);

    const load = async (cursor) => {
        const page = await api('GET', '/v1/endpoints?limit=50' + (cursor ? '&cursor=' + enc(cursor) : ''));
        if (view !== state.view) return;
        if (!cursor && page.data.length === 0) {
            listEl.append(h('div', { class: 'empty' },
                h('p', {}, state.session.admin && !state.account
                    ? 'No endpoints yet in any account.'
                    : 'No endpoints yet.'),
                h('p', {}, 'Create one with “New endpoint” above (or `psw endpoint create`); ' +
                    'events published for the account are then delivered to it.')));
        }
        for (const ep of page.data) listEl.append(endpointCard(ep, view));
        more.replaceChildren();
        if (page.next_cursor) {
            const b = button('Show more endpoints', () => { b.disabled = true; load(page.next_cursor); });
            more.append(b);
        }
    };
    await load(null);
    if (view !== state.view) return;
    main.replaceChildren(section);
}

function endpointCard(ep, view) {
    const card = h('article', { class: 'card ep', 'data-endpoint': ep.id });
    const stats = h('div', { class: 'stats' }, factList(statsFacts(null)));
    const render = (e) => {
        fill(card,
            h('header', { class: 'ephead' },
                h('h2', {}, h('a', { href: `#/endpoints/${e.id}`, class: 'url' }, e.url)), badge(e.status)),
            disabledBanner(e, (e2) => render(e2)),
            factList([
                ['Events', eventsText(e.events)],
                ['Domain', e.domain || 'every domain'],
                ['Account', e.account_id],
                ['Id', h('code', {}, e.id)],
            ]),
            stats);
    };
    render(ep);
    api('GET', `/v1/endpoints/${enc(ep.id)}/stats`).then((st) => {
        if (view === state.view) stats.replaceChildren(factList(statsFacts(st)));
    }).catch((e) => stats.replaceChildren(h('p', { class: 'msg error' }, `stats: ${e.message}`)));
    return card;
}

function createForm(out, done) {
    const url = h('input', { type: 'url', required: true, placeholder: 'https://example.com/webhooks' });
    const domain = h('input', { type: 'text', placeholder: 'every domain' });
    const events = h('input', { type: 'text', value: '*' });
    const desc = h('input', { type: 'text' });
    const acct = h('input', { type: 'text', placeholder: 'acct_…' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create endpoint');
    const msg = msgLine();
    const needAccount = state.session.admin && !state.account;
    const opts = optionFields(null);
    const form = h('form', { class: 'grid' },
        field('URL', url).row,
        field('Event types', events, '* for every event, or a comma-separated list').row,
        field('Sending domain', domain, 'empty: every domain of the account').row,
        field('Description', desc).row,
        opts.rows,
        needAccount ? field('Account', acct).row : null,
        h('div', { class: 'actions' }, submit), msg);
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(submit, msg, async () => {
            const body = { url: url.value.trim(), events: parseEvents(events.value) };
            if (domain.value.trim()) body.domain = domain.value.trim();
            if (desc.value.trim()) body.description = desc.value.trim();
            if (needAccount) body.account_id = acct.value.trim();
            opts.apply(body);
            const ep = await api('POST', '/v1/endpoints', withAccount(body));
            await done();
            // route() rebuilt the page; show the secret above the list
            const slot = main.querySelector('.eplist');
            if (slot) slot.before(secretBox(`Signing secret of ${ep.url}`, ep.secret));
        });
    });
    return h('details', { class: 'card create' }, h('summary', {}, 'New endpoint'), form);
}

// ---- endpoint detail --------------------------------------------------------

async function viewEndpoint(id, view) {
    let ep;
    try {
        ep = await api('GET', `/v1/endpoints/${enc(id)}`);
    } catch (e) {
        if (e.status !== 404 && e.status !== 400) throw e;
        if (view !== state.view) return;
        main.replaceChildren(h('section', { class: 'card' },
            h('h1', {}, 'Endpoint not found'),
            h('p', { class: 'msg error', role: 'alert' }, e.message),
            h('p', {}, `There is no endpoint ${id} in this account. `,
                h('a', { href: '#/endpoints' }, 'See your endpoints'), '.')));
        return;
    }
    if (view !== state.view) return;

    const head = h('div');
    const stats = h('div', { class: 'stats' }, factList(statsFacts(null)));
    const renderHead = (e) => {
        ep = e;
        fill(head,
            h('p', { class: 'crumb' }, h('a', { href: '#/endpoints' }, '← Endpoints')),
            h('header', { class: 'ephead' }, h('h1', { class: 'url' }, e.url), badge(e.status)),
            disabledBanner(e, (e2) => renderHead(e2)),
            factList([
                ['Id', h('code', {}, e.id)],
                ['Events', eventsText(e.events)],
                ['Domain', e.domain || 'every domain'],
                ['Description', e.description || '—'],
                ['Account', e.account_id],
                ['Created', timeEl(e.created_at)],
                ['Consecutive failures', String(e.consecutive_failures ?? 0)],
                ...optionFacts(e),
            ]));
    };
    renderHead(ep);
    const refreshStats = async () => {
        const st = await api('GET', `/v1/endpoints/${enc(id)}/stats`);
        if (view === state.view) stats.replaceChildren(factList(statsFacts(st)));
    };

    const deliveries = deliveriesPanel(id, view);
    const section = h('section', { class: 'detail' }, head, stats,
        actionsPanel(() => ep, renderHead, view), batchReplayPanel(id, view), deliveries.el);
    main.replaceChildren(section);
    refreshStats().catch((e) => stats.replaceChildren(h('p', { class: 'msg error' }, `stats: ${e.message}`)));
    await deliveries.load();
    every(POLL_MS, async () => {
        await deliveries.poll();
        await refreshStats();
        const e2 = await api('GET', `/v1/endpoints/${enc(id)}`);
        if (view === state.view && (e2.status !== ep.status || e2.updated_at !== ep.updated_at)) renderHead(e2);
    });
}

function actionsPanel(getEp, renderHead, view) {
    const area = h('div', { class: 'actionarea' });
    const open = (title, ...content) => {
        area.replaceChildren(h('div', { class: 'card action', role: 'region', 'aria-label': title },
            h('h2', {}, title), content,
            button('Close', () => area.replaceChildren(), { class: 'link' })));
        const first = area.querySelector('input, textarea, select, button');
        if (first) first.focus();
    };
    const path = () => `/v1/endpoints/${enc(getEp().id)}`;

    const edit = () => {
        const ep = getEp();
        const url = h('input', { type: 'url', required: true, value: ep.url });
        const events = h('input', { type: 'text', value: ep.events === '*' ? '*' : (ep.events || []).join(', ') });
        const domain = h('input', { type: 'text', value: ep.domain || '' });
        const desc = h('input', { type: 'text', value: ep.description || '' });
        const submit = h('button', { type: 'submit', class: 'primary' }, 'Save');
        const msg = msgLine();
        const opts = optionFields(ep);
        const form = h('form', { class: 'grid' }, field('URL', url).row,
            field('Event types', events, '* or a comma-separated list').row,
            field('Sending domain', domain, 'empty: every domain').row,
            field('Description', desc).row, opts.rows, h('div', { class: 'actions' }, submit), msg);
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            busy(submit, msg, async () => {
                const e2 = await api('PATCH', path(), opts.apply({
                    url: url.value.trim(), events: parseEvents(events.value),
                    domain: domain.value.trim(), description: desc.value,
                }));
                renderHead(e2);
                msg.show('Saved.', 'ok');
            });
        });
        open('Edit endpoint', form);
    };

    const rotate = () => {
        const grace = h('input', { type: 'text', placeholder: 'the configured default (e.g. 24h)' });
        const submit = h('button', { type: 'submit', class: 'primary' }, 'Rotate secret');
        const msg = msgLine();
        const result = h('div');
        const form = h('form', { class: 'grid' },
            h('p', {}, 'A new secret is made. During the grace period every request carries two ' +
                'signatures, one per secret, so receivers can switch over without losing events.'),
            field('Grace period', grace, 'a duration such as 30m, 24h or 7d').row,
            h('div', { class: 'actions' }, submit), msg, result);
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            busy(submit, msg, async () => {
                const body = {};
                if (grace.value.trim()) body.grace = grace.value.trim();
                const r = await api('POST', `${path()}/rotate-secret`, body);
                result.replaceChildren(secretBox('New signing secret', r.secret,
                    h('p', { class: 'grace' }, r.secret_prev_until
                        ? ['The previous secret keeps signing too until ', timeEl(r.secret_prev_until), '.']
                        : 'The previous secret is no longer used.')));
            });
        });
        open('Rotate the signing secret', form);
    };

    const reveal = () => {
        const msg = msgLine();
        const out = h('div');
        const b = button('Show the current secret', () => busy(b, msg, async () => {
            const s = await api('GET', `${path()}/secret`);
            out.replaceChildren(factList([
                ['Current secret', h('code', { class: 'secret' }, s.secret)],
                ['Previous secret', s.secret_prev ? h('code', { class: 'secret' }, s.secret_prev) : 'none'],
                ['Previous valid until', timeEl(s.secret_prev_until)],
            ]));
        }));
        open('Reveal the secret', h('p', {}, 'Anyone who sees it can sign requests your receiver accepts.'), b, msg, out);
    };

    const test = () => {
        const ev = getEp().events;
        const first = Array.isArray(ev) && ev.length ? ev[0] : 'email.delivered';
        const type = h('input', { type: 'text', required: true, value: first });
        const submit = h('button', { type: 'submit', class: 'primary' }, 'Send test event');
        const msg = msgLine();
        const form = h('form', { class: 'grid' }, field('Event type', type).row,
            h('div', { class: 'actions' }, submit), msg);
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            busy(submit, msg, async () => {
                const r = await api('POST', `${path()}/test`, { type: type.value.trim() });
                msg.show(`Sent ${r.event_id}: ${r.deliveries} deliver${r.deliveries === 1 ? 'y' : 'ies'}. ` +
                    'It appears in the history below within a few seconds.', 'ok');
            });
        });
        open('Send a test event', form);
    };

    const toggle = () => {
        const ep = getEp();
        const msg = msgLine();
        if (ep.status === 'disabled') {
            const b = button('Enable', () => busy(b, msg, async () => {
                renderHead(await api('POST', `${path()}/enable`, {}));
                msg.show('Enabled.', 'ok');
            }), { class: 'primary' });
            open('Enable the endpoint', b, msg);
            return;
        }
        const reason = h('input', { type: 'text', placeholder: 'optional' });
        const submit = h('button', { type: 'submit' }, 'Disable');
        const form = h('form', { class: 'grid' }, field('Reason', reason).row,
            h('div', { class: 'actions' }, submit), msg);
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            busy(submit, msg, async () => {
                const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
                renderHead(await api('POST', `${path()}/disable`, body));
                msg.show('Disabled.', 'ok');
            });
        });
        open('Disable the endpoint', h('p', {}, 'Events for it are recorded as skipped until it is enabled again.'), form);
    };

    const del = () => {
        const msg = msgLine();
        const b = button('Delete this endpoint', () => busy(b, msg, async () => {
            await api('DELETE', path());
            if (view === state.view) location.hash = '#/endpoints';
        }), { class: 'danger' });
        open('Delete the endpoint', h('p', {}, 'It stops receiving events at once. Its delivery history is kept ' +
            'for the retention period.'), b, msg);
    };

    return h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Endpoint actions' },
        button('Edit', edit), button('Rotate secret', rotate), button('Reveal secret', reveal),
        button('Send test event', test), button('Enable / disable', toggle),
        button('Delete', del, { class: 'danger' }), area);
}

function batchReplayPanel(id, view) {
    const now = Date.now();
    const since = h('input', { type: 'datetime-local', required: true, value: isoToLocalInput(now - 24 * 3600e3) });
    const until = h('input', { type: 'datetime-local', required: true, value: isoToLocalInput(now + 60e3) });
    const boxes = ['failed', 'skipped', 'delivered'].map((s) =>
        h('input', { type: 'checkbox', value: s, checked: s !== 'delivered', id: nextId('st') }));
    const check = h('button', { type: 'submit' }, 'Count matching deliveries');
    const msg = msgLine();
    const confirmArea = h('div');
    const progress = h('div');
    const body = () => ({
        since: localInputToIso(since.value), until: localInputToIso(until.value),
        states: boxes.filter((b) => b.checked).map((b) => b.value),
    });
    const form = h('form', { class: 'grid' },
        field('From', since).row, field('To', until).row,
        h('fieldset', {}, h('legend', {}, 'States'),
            boxes.map((b) => h('label', { for: b.id, class: 'check' }, b, ' ', b.value))),
        h('div', { class: 'actions' }, check), msg, confirmArea, progress);
    form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        confirmArea.replaceChildren();
        busy(check, msg, async () => {
            const q = body();
            if (q.states.length === 0) throw new Error('Choose at least one state.');
            const r = await api('POST', `/v1/endpoints/${enc(id)}/replay`, Object.assign({ dry_run: true }, q));
            if (r.matched === 0) {
                msg.show('No deliveries match: widen the range or choose other states.', 'ok');
                return;
            }
            const go = button(`Replay ${r.matched} deliver${r.matched === 1 ? 'y' : 'ies'}`, () => busy(go, msg, async () => {
                const done = await api('POST', `/v1/endpoints/${enc(id)}/replay`, Object.assign({ dry_run: false }, q));
                confirmArea.replaceChildren();
                watchReplay(done.queued, q);
            }), { class: 'primary' });
            const cancel = button('Cancel', () => confirmArea.replaceChildren(), { class: 'link' });
            confirmArea.replaceChildren(h('div', { class: 'confirm', role: 'alert' },
                h('p', {}, `${r.matched} deliver${r.matched === 1 ? 'y matches' : 'ies match'}. ` +
                    'Replaying sends each of them again now. Continue?'), go, cancel));
            go.focus();
        });
    });

    // Progress: how many deliveries of the range are still on their way.
    const watchReplay = (queued, q) => {
        const bar = h('progress', { max: String(Math.max(queued, 1)), value: '0' });
        const label = h('p', { role: 'status', 'aria-live': 'polite' }, `Queued ${queued}.`);
        progress.replaceChildren(h('div', { class: 'progress' }, h('label', {}, 'Replay progress ', bar), label));
        if (queued === 0) return;
        const tick = async () => {
            let active = 0, failed = 0, cursor = null, pages = 0;
            do {
                const page = await api('GET', `/v1/endpoints/${enc(id)}/deliveries?limit=500&since=${enc(q.since)}` +
                    `&until=${enc(q.until)}` + (cursor ? `&cursor=${enc(cursor)}` : ''));
                for (const d of page.data) {
                    if (d.trigger !== 'replay') continue;
                    if (ACTIVE.has(d.state)) active++;
                    else if (d.state === 'failed') failed++;
                }
                cursor = page.next_cursor;
            } while (cursor && ++pages < 20);
            const finished = Math.max(0, queued - active);
            bar.value = Math.min(finished, queued);
            label.textContent = active === 0
                ? `Done: all ${queued} replayed deliveries finished` +
                  (failed ? `; ${failed} failed again (see the history below).` : '.')
                : `Queued ${queued}: ${finished} finished, ${active} still on their way.`;
            return active === 0;
        };
        const view0 = state.view;
        const t = setInterval(async () => {
            if (view0 !== state.view) return clearInterval(t);
            try { if (await tick()) clearInterval(t); } catch (e) { label.textContent = e.message; }
        }, POLL_MS);
        state.timers.push(t);
    };
    return h('details', { class: 'card replay' }, h('summary', {}, 'Replay a date range'), form);
}

function deliveriesPanel(id, view) {
    const stateSel = h('select', {}, h('option', { value: '' }, 'any'),
        STATES.map((s) => h('option', { value: s }, s)));
    const type = h('input', { type: 'text', placeholder: 'any type', name: 'type' });
    const since = h('input', { type: 'datetime-local' });
    const until = h('input', { type: 'datetime-local' });
    const apply = h('button', { type: 'submit' }, 'Apply filters');
    const msg = msgLine();
    const tbody = h('tbody');
    const table = h('table', { class: 'deliveries' },
        h('caption', { class: 'sr' }, 'Deliveries, newest first'),
        h('thead', {}, h('tr', {}, ['Created', 'Event type', 'State', 'Attempts', 'Last answer', 'Latency', ''].map(
            (t) => h('th', { scope: 'col' }, t)))), tbody);
    const empty = h('div', { class: 'empty', hidden: true });
    const more = h('div', { class: 'more' });
    const rows = new Map(); // delivery id -> {tr, detailTr, d}
    const notes = new Map(); // delivery id -> what its last action said (kept across re-renders)
    let filters = {};

    const filterForm = h('form', { class: 'filters', 'aria-label': 'Filter deliveries' },
        field('State', stateSel).row, field('Event type', type).row,
        field('From', since).row, field('To', until).row, h('div', { class: 'actions' }, apply), msg);

    const query = (cursor, limit) => {
        const p = new URLSearchParams();
        p.set('limit', String(limit || 50));
        for (const [k, v] of Object.entries(filters)) if (v) p.set(k, v);
        if (cursor) p.set('cursor', cursor);
        return `/v1/endpoints/${enc(id)}/deliveries?${p}`;
    };

    const row = (d) => {
        const rmsg = msgLine();
        if (notes.has(d.id)) rmsg.show(...notes.get(d.id));
        const detailBtn = button('Details', () => toggleDetail(d.id), { 'aria-expanded': 'false' });
        const replayBtn = button('Replay', () => busy(replayBtn, rmsg, async () => {
            const r = await api('POST', `/v1/deliveries/${enc(d.id)}/replay`, {});
            const note = [r.result === 'queued' || !r.result ? 'Replay queued.' : `Replay: ${r.result}.`, 'ok'];
            notes.set(d.id, note);
            rmsg.show(...note);
            await poll();
        }));
        const tr = h('tr', { 'data-delivery': d.id },
            h('td', { 'data-label': 'Created' }, timeEl(d.created_at)),
            h('td', { 'data-label': 'Type' }, d.event_type),
            h('td', { class: 'state', 'data-label': 'State' }, badge(d.state)),
            h('td', { 'data-label': 'Attempts' }, String(d.attempts)),
            h('td', { class: 'answer', 'data-label': 'Last answer' }, d.last_status === null || d.last_status === undefined
                ? (d.attempts ? 'no answer' : '—') : `HTTP ${d.last_status}`,
            d.last_error ? h('div', { class: 'err' }, d.last_error) : null),
            h('td', { 'data-label': 'Latency' }, d.last_latency_ms === null || d.last_latency_ms === undefined ? '—' : `${d.last_latency_ms} ms`),
            h('td', { class: 'rowactions' }, detailBtn, replayBtn, rmsg));
        tr.detailBtn = detailBtn;
        return tr;
    };

    const upsert = (d, where) => {
        const old = rows.get(d.id);
        if (old && JSON.stringify(old.d) === JSON.stringify(d)) return;
        const tr = row(d);
        if (old) {
            old.tr.replaceWith(tr);
            if (old.detailTr) {
                tr.detailBtn.setAttribute('aria-expanded', 'true');
                tr.detailBtn.textContent = 'Hide';
                loadDetail(d.id, old.detailTr);
            }
            rows.set(d.id, { tr, detailTr: old.detailTr, d });
            return;
        }
        if (where === 'top') {
            tbody.prepend(tr);
            tr.classList.add('new');
        } else {
            tbody.append(tr);
        }
        rows.set(d.id, { tr, detailTr: null, d });
    };

    const toggleDetail = (did) => {
        const r = rows.get(did);
        if (!r) return;
        if (r.detailTr) {
            r.detailTr.remove();
            r.detailTr = null;
            r.tr.detailBtn.setAttribute('aria-expanded', 'false');
            r.tr.detailBtn.textContent = 'Details';
            return;
        }
        r.detailTr = h('tr', { class: 'detailrow' });
        r.tr.after(r.detailTr);
        r.tr.detailBtn.setAttribute('aria-expanded', 'true');
        r.tr.detailBtn.textContent = 'Hide';
        loadDetail(did, r.detailTr);
    };

    const loadDetail = async (did, tr) => {
        const cell = h('td', { colspan: '7' }, h('p', { class: 'loading' }, 'Loading attempts…'));
        tr.replaceChildren(cell);
        try {
            const dd = await api('GET', `/v1/deliveries/${enc(did)}`);
            cell.replaceChildren(deliveryDetail(dd));
        } catch (e) {
            cell.replaceChildren(h('p', { class: 'msg error', role: 'alert' }, e.message));
        }
    };

    let nextCursor = null;
    const showEmpty = () => {
        const filtered = Object.values(filters).some(Boolean);
        empty.hidden = rows.size !== 0;
        empty.replaceChildren(filtered
            ? h('p', {}, 'No deliveries match these filters. Clear or widen them.')
            : h('p', {}, 'No deliveries yet. Send a test event with “Send test event” above, or publish an ' +
                'event this endpoint subscribes to; it shows up here by itself.'));
    };
    const renderMore = () => {
        more.replaceChildren();
        if (!nextCursor) return;
        const b = button('Load older deliveries', () => busy(b, msg, async () => {
            const page = await api('GET', query(nextCursor));
            if (view !== state.view) return;
            for (const d of page.data) upsert(d, 'bottom');
            nextCursor = page.next_cursor;
            renderMore();
        }));
        more.append(b);
    };

    // A poll that was asked before the filters changed must not add its rows.
    let gen = 0;
    const load = async () => {
        const mine = ++gen;
        const page = await api('GET', query(null));
        if (view !== state.view || mine !== gen) return;
        tbody.replaceChildren();
        rows.clear();
        for (const d of page.data) upsert(d, 'bottom');
        nextCursor = page.next_cursor;
        renderMore();
        showEmpty();
    };

    // New deliveries come on top; the ones on screen get their new state.
    const poll = async () => {
        const mine = gen;
        const page = await api('GET', query(null));
        if (view !== state.view || mine !== gen) return;
        const fresh = page.data.filter((d) => !rows.has(d.id)).reverse();
        for (const d of page.data) if (rows.has(d.id)) upsert(d);
        for (const d of fresh) upsert(d, 'top');
        showEmpty();
    };

    filterForm.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(apply, msg, async () => {
            const s = localInputToIso(since.value), u = localInputToIso(until.value);
            filters = { state: stateSel.value, type: type.value.trim(), since: s, until: u };
            await load();
        });
    });

    const el = h('section', { class: 'card', 'aria-labelledby': 'dl-h' },
        h('h2', { id: 'dl-h' }, 'Delivery history'),
        h('p', { class: 'hint' }, 'Newest first; new deliveries appear here without reloading.'),
        filterForm, h('div', { class: 'scroll' }, table), empty, more);
    return { el, load, poll };
}

function headersList(obj) {
    if (!obj || typeof obj !== 'object') return h('span', { class: 'muted' }, 'none');
    const entries = Array.isArray(obj) ? obj.map((x) => [x[0], x[1]]) : Object.entries(obj);
    if (entries.length === 0) return h('span', { class: 'muted' }, 'none');
    return h('dl', { class: 'headers' }, entries.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
}

function deliveryDetail(dd) {
    const d = dd.delivery || {};
    const attempts = dd.attempts || [];
    const parts = [
        factList([
            ['Delivery', h('code', {}, d.id)],
            ['Event', h('code', {}, d.event_id)],
            ['Trigger', d.trigger || '—'],
            ['Next attempt', timeEl(d.next_attempt_at)],
            ['Delivered', timeEl(d.delivered_at)],
            ['Failed reason', d.failed_reason || '—'],
        ]),
    ];
    if (dd.event !== undefined && dd.event !== null) {
        parts.push(h('details', { class: 'event' }, h('summary', {}, 'Event body'),
            h('pre', {}, typeof dd.event === 'string' ? dd.event : JSON.stringify(dd.event, null, 2))));
    }
    if (attempts.length === 0) parts.push(h('p', { class: 'empty' }, 'No attempt yet: it is waiting in the queue.'));
    attempts.forEach((a, i) => {
        const resp = a.response;
        parts.push(h('article', { class: 'attempt' },
            h('h4', {}, `Attempt ${a.n ?? i + 1}`, a.trigger ? ` (${a.trigger})` : '', ' — ', timeEl(a.at)),
            factList([
                ['Status', a.status ? `HTTP ${a.status}` : 'no answer'],
                ['Latency', a.latency_ms === undefined || a.latency_ms === null ? '—' : `${a.latency_ms} ms`],
                ['Error', a.error ? h('span', { class: 'err' }, a.error) : 'none'],
                ['URL', a.request && a.request.url ? a.request.url : '—'],
            ]),
            h('div', { class: 'cols' },
                h('div', {}, h('h5', {}, 'Request headers'), headersList(a.request && a.request.headers)),
                h('div', {}, h('h5', {}, 'Response headers'), resp ? headersList(resp.headers) : h('span', { class: 'muted' }, 'no answer'))),
            resp ? [h('h5', {}, 'Response body', resp.body_truncated ? ` (first part of ${resp.body_bytes} bytes)` : ''),
                h('pre', { class: 'body' }, resp.body ?? '')] : null));
    });
    return h('div', { class: 'ddetail' }, parts);
}

// ---- alerts and audit -------------------------------------------------------

async function pagedTable(view, { title, intro, path, columns, emptyText }) {
    const tbody = h('tbody');
    const more = h('div', { class: 'more' });
    const msg = msgLine();
    const empty = h('div', { class: 'empty', hidden: true }, h('p', {}, emptyText));
    const load = async (cursor) => {
        const page = await api('GET', path + (cursor ? `&cursor=${enc(cursor)}` : ''));
        if (view !== state.view) return;
        for (const item of page.data)
            tbody.append(h('tr', {}, columns.map((c) => h('td', {}, c.cell(item)))));
        if (!cursor) empty.hidden = page.data.length !== 0;
        more.replaceChildren();
        if (page.next_cursor) {
            const b = button('Show older', () => busy(b, msg, () => load(page.next_cursor)));
            more.append(b);
        }
    };
    await load(null);
    if (view !== state.view) return;
    main.replaceChildren(h('section', { class: 'card' }, h('h1', {}, title), h('p', { class: 'hint' }, intro),
        h('div', { class: 'scroll' }, h('table', {},
            h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.title)))), tbody)),
        empty, more, msg));
}

const epLink = (id) => (id ? h('a', { href: `#/endpoints/${id}` }, id) : '—');

function viewAlerts(view) {
    return pagedTable(view, {
        title: 'Alerts',
        intro: 'Endpoints that were disabled automatically (too many failed attempts in a row, or a 410 Gone answer).',
        path: '/v1/alerts?limit=50',
        emptyText: 'No alerts: no endpoint has been disabled automatically. If one is, it shows up here and on the endpoints page.',
        columns: [
            { title: 'When', cell: (a) => timeEl(a.at) },
            { title: 'Type', cell: (a) => a.type },
            { title: 'Endpoint', cell: (a) => epLink(a.endpoint_id) },
            { title: 'Reason', cell: (a) => a.reason },
            { title: 'Account', cell: (a) => a.account_id },
        ],
    });
}

function viewAudit(view) {
    return pagedTable(view, {
        title: 'Audit trail',
        intro: 'Every change made through the API, the dashboard or the psw command, newest first.',
        path: '/v1/audit?limit=50',
        emptyText: 'Nothing changed yet. Creating, editing, replaying or rotating leaves an entry here.',
        columns: [
            { title: 'When', cell: (a) => timeEl(a.at) },
            { title: 'Who', cell: (a) => a.actor },
            { title: 'Action', cell: (a) => a.action },
            { title: 'Target', cell: (a) => (a.target && a.target.startsWith('ep_') ? epLink(a.target) : a.target || '—') },
            { title: 'Account', cell: (a) => a.account_id || '—' },
        ],
    });
}

// ---- start ------------------------------------------------------------------

async function boot() {
    document.getElementById('logout').addEventListener('click', logout);
    document.getElementById('account-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        state.account = document.getElementById('account-input').value.trim();
        sessionStorage.setItem('psw_account', state.account);
        route();
    });
    window.addEventListener('hashchange', () => {
        if (location.hash.startsWith('#login=')) boot2();
        else route();
    });
    await boot2();
}

async function boot2() {
    const m = location.hash.match(/^#login=([^&]*)/);
    if (m) {
        // the code is single use: take it out of the address bar and history first
        const code = decodeURIComponent(m[1]);
        history.replaceState(null, '', location.pathname + location.search + '#/endpoints');
        try {
            await login({ link: code });
        } catch (e) {
            showLogin(e.status === 401 || e.status === 404 || e.status === 400
                ? `This dashboard link cannot be used: ${e.message}. Links work once, for 10 minutes; ask for a new one.`
                : e.message);
            return;
        }
        route();
        return;
    }
    // A browser that never logged in here has no cookie: skip asking (a 401).
    if (!localStorage.getItem('psw_logged_in')) {
        showLogin();
        return;
    }
    try {
        setSession(await api('GET', '/v1/session'));
    } catch (e) {
        if (e.status === 401) localStorage.removeItem('psw_logged_in');
        showLogin(e.status === 401 ? '' : e.message);
        return;
    }
    route();
}

boot();
