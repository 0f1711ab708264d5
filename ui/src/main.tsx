// The dashboard: sign-in with an operator token (or the bootstrap admin token, or OIDC when
// configured), a navigation bar and the pages; actions the operator's role may not take are not
// shown. Mounted on #app.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, loadMe, me, oidcConfig, signedIn, signIn, signInError, signOut } from './api';
import { AgentPage, Agents } from './pages/agents';
import { AlertPage, Alerts } from './pages/alerts';
import { Approvals } from './pages/approvals';
import { Audit } from './pages/audit';
import { Overview } from './pages/overview';
import { Review } from './pages/review';
import { SessionPage, Sessions } from './pages/sessions';
import { href, match, route } from './router';
import './styles.css';

const NAV = [
  ['/', 'Overview'],
  ['/agents', 'Agents'],
  ['/sessions', 'Sessions'],
  ['/approvals', 'Approvals'],
  ['/alerts', 'Alerts'],
  ['/audit', 'Audit'],
  ['/review', 'Access review'],
] as const;

function Login() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(signInError);
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<string | null>(null);
  useEffect(() => {
    oidcConfig().then((c) => setSso(c.enabled && c.login_url ? c.login_url : null), () => undefined);
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Checked against the API before it is kept.
      await api('GET', '/teams', undefined, token.trim());
      signIn(token.trim());
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That is not an operator token (nor the admin token).' : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="card" onSubmit={(e) => void submit(e)}>
        <div class="brand big"><Logo /> Tollgate</div>
        <p class="muted">Sign in with your operator token (<code>tollgate operator create</code> prints it once), or the gateway's bootstrap admin token (<code>TOLLGATE_ADMIN_TOKEN</code>, or the file <code>.tollgate/admin-token</code>). It is kept in this tab only.</p>
        <label>Operator token<input type="password" name="token" autoComplete="current-password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} autoFocus /></label>
        <button class="btn primary" type="submit" disabled={busy || token.trim() === ''}>Sign in</button>
        {sso && <a class="btn plain" href={sso}>Sign in with your identity provider</a>}
        {error && <p class="error" role="alert">{error}</p>}
      </form>
    </main>
  );
}

const Logo = () => (
  <svg class="logo" viewBox="0 0 32 32" aria-hidden="true"><rect width="32" height="32" rx="7" fill="#1e2a44" /><path d="M7 12h18v3H7zM14.5 15h3v10h-3z" fill="#5eead4" /><circle cx="16" cy="8.5" r="2.2" fill="#5eead4" /></svg>
);

function Current({ path }: { path: string }) {
  let m: Record<string, string> | null;
  if (path === '/' || path === '') return <Overview />;
  if (path === '/agents') return <Agents />;
  if ((m = match('/agents/:id', path))) return <AgentPage id={m.id!} />;
  if (path === '/sessions') return <Sessions />;
  if ((m = match('/sessions/:id', path))) return <SessionPage id={m.id!} />;
  if (path === '/approvals') return <Approvals />;
  if (path === '/alerts') return <Alerts />;
  if ((m = match('/alerts/:id', path))) return <AlertPage id={m.id!} />;
  if (path === '/audit') return <Audit />;
  if (path === '/review') return <Review />;
  return <section class="page"><h1>Not found</h1><p><a href={href('/')}>Back to the overview</a></p></section>;
}

function App() {
  const ok = signedIn.use();
  const who = me.use();
  const loc = route.use();
  useEffect(() => {
    if (ok && !who) loadMe().catch(() => undefined);
  }, [ok, who]);
  if (!ok) return <Login />;
  const section = `/${loc.path.split('/')[1] ?? ''}`;
  return (
    <div class="shell">
      <nav class="nav" aria-label="Main">
        <a class="brand" href={href('/')}><Logo /> <span>Tollgate</span></a>
        <ul>
          {NAV.map(([path, label]) => (
            <li key={path}><a href={href(path)} aria-current={section === path ? 'page' : undefined}>{label}</a></li>
          ))}
        </ul>
        {who && <span class="whoami" data-testid="whoami">{who.name} · {who.role}</span>}
        <button type="button" class="btn plain signout" onClick={signOut}>Sign out</button>
      </nav>
      <main class="content">
        {/* A new page per path: its polls stop when it goes. */}
        <Current key={loc.path} path={loc.path} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
