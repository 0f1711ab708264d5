// The dashboard: sign-in with the admin token, a navigation bar and the pages. Mounted on #app.
import { render } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, signedIn, signIn, signOut } from './api';
import { AgentPage, Agents } from './pages/agents';
import { AlertPage, Alerts } from './pages/alerts';
import { Approvals } from './pages/approvals';
import { Audit } from './pages/audit';
import { Overview } from './pages/overview';
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
] as const;

function Login() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Checked against the API before it is kept.
      await api('GET', '/teams', undefined, token.trim());
      signIn(token.trim());
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That is not the admin token.' : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="card" onSubmit={(e) => void submit(e)}>
        <div class="brand big"><Logo /> Tollgate</div>
        <p class="muted">Sign in with the gateway's admin token (<code>TOLLGATE_ADMIN_TOKEN</code>, or the file <code>.tollgate/admin-token</code>). It is kept in this tab only.</p>
        <label>Admin token<input type="password" name="token" autoComplete="current-password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} autoFocus /></label>
        <button class="btn primary" type="submit" disabled={busy || token.trim() === ''}>Sign in</button>
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
  return <section class="page"><h1>Not found</h1><p><a href={href('/')}>Back to the overview</a></p></section>;
}

function App() {
  const ok = signedIn.use();
  const loc = route.use();
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
