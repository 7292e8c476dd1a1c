import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { BASE, enc } from '../api';
import { useApp } from '../app';
import { useApi, useTitle } from '../hooks';
import { bytes, duration, kindLabel, localTime, shortId } from '../format';
import { href, seg } from '../router';
import type { FileListing, Point, ServiceDetail } from '../types';
import { RestoreDialog } from '../components/RestoreDialog';
import { Empty, ErrorBox, Loading, PageTitle, Status, Time } from '../components/ui';
import { VerifiedText } from './Service';

/** The manifest's facts worth a row; one without a value (a volume has no server version) has none. */
function manifestRows(m: Record<string, unknown>): [string, string][] {
  const rows: [string, unknown][] = [
    ['Server version', m.server_version],
    ['Host', m.hostname],
  ];
  return rows.filter((r): r is [string, string] => typeof r[1] === 'string' && r[1].trim() !== '');
}

export function PointPage({ name, point, path }: { name: string; point: string; path: string }) {
  useTitle(`${name} · point ${shortId(point)}`);
  const app = useApp();
  const p = useApi<Point>(`/services/${enc(name)}/backups/${enc(point)}`);
  const svc = useApi<ServiceDetail>(`/services/${enc(name)}`);
  const [restoring, setRestoring] = useState(false);
  const pt = p.data;
  const m = (pt?.manifest ?? {}) as Record<string, unknown>;
  const hasFiles = pt?.parts.some((x) => x.kind === 'files');

  return (
    <div>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href="#/">Overview</a> <span aria-hidden="true">›</span> <a href={href(`/services/${seg(name)}`)}>{name}</a> <span aria-hidden="true">›</span>{' '}
        <span>point {shortId(point)}</span>
      </nav>
      <PageTitle>
        Restore point {shortId(point)}
        {pt && <span class="title-sub"> of {name}, {localTime(pt.time)}</span>}
      </PageTitle>
      <ErrorBox error={p.error} />
      {!pt && !p.error && <Loading />}
      {pt && (
        <>
          <div class="actions">
            {app.can('operate') && svc.data && (
              <button type="button" class="btn btn-primary" onClick={() => setRestoring(true)}>
                Restore this point…
              </button>
            )}
          </div>
          <div class="cols">
            <section class="card" aria-labelledby="pt-h">
              <h2 id="pt-h">Point</h2>
              <dl class="dl">
                <dt>Id</dt>
                <dd>
                  <code>{pt.id}</code>
                </dd>
                <dt>Created</dt>
                <dd>
                  <Time iso={pt.time} seconds />
                </dd>
                <dt>Kind</dt>
                <dd>{kindLabel(pt.kind)}</dd>
                <dt>Status</dt>
                <dd>
                  <Status status={pt.status} />
                </dd>
                <dt>Size</dt>
                <dd>
                  {bytes(pt.size)} ({bytes(pt.added)} added)
                </dd>
                <dt>Took</dt>
                <dd>{duration(pt.duration_s)}</dd>
                <dt>Targets</dt>
                <dd>{pt.targets.join(', ')}</dd>
                <dt>Verified</dt>
                <dd>
                  <VerifiedText v={pt.verified} />
                </dd>
                {manifestRows(m).map(([label, value]) => (
                  <Fragment key={label}>
                    <dt>{label}</dt>
                    <dd>{value}</dd>
                  </Fragment>
                ))}
              </dl>
              {pt.inexact_reasons.length > 0 && (
                <div class="note-warn">
                  <p>Not an exact snapshot:</p>
                  <ul>
                    {pt.inexact_reasons.map((r) => (
                      <li key={r}>{r}</li>
                    ))}
                  </ul>
                </div>
              )}
            </section>
            <section class="card" aria-labelledby="parts-h">
              <h2 id="parts-h">Parts</h2>
              <table class="table compact">
                <thead>
                  <tr>
                    <th scope="col">Part</th>
                    <th scope="col">Kind</th>
                    <th scope="col" class="num">
                      Size
                    </th>
                    <th scope="col" class="num">
                      Files
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {pt.parts.map((x) => (
                    <tr key={x.name}>
                      <th scope="row">{x.name}</th>
                      <td>{x.kind}</td>
                      <td class="num">{bytes(x.bytes)}</td>
                      <td class="num">{x.files ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          </div>
          {hasFiles ? (
            <FileBrowser name={name} point={pt.id} path={path} />
          ) : (
            <p class="muted">This point has no volume (files) parts to browse; restore it to get its data back.</p>
          )}
        </>
      )}
      {restoring && pt && svc.data && <RestoreDialog service={svc.data} point={pt} onClose={() => setRestoring(false)} />}
    </div>
  );
}

function joinPath(dir: string, name: string): string {
  return (dir.endsWith('/') ? dir : dir + '/') + name.replace(/^\/+/, '');
}

function FileIcon({ type }: { type: string }) {
  // Drawn, not emoji: the system may have no emoji font.
  if (type === 'dir')
    return (
      <svg class="ficon ficon-dir" viewBox="0 0 16 16" aria-hidden="true">
        <path d="M1.5 3.5h4.2l1.3 1.5h7.5v8.5h-13z" />
      </svg>
    );
  if (type === 'symlink')
    return (
      <svg class="ficon" viewBox="0 0 16 16" aria-hidden="true">
        <path d="M3 13V8.5a3 3 0 0 1 3-3h6M9.5 3l2.8 2.5-2.8 2.5" />
      </svg>
    );
  return (
    <svg class="ficon" viewBox="0 0 16 16" aria-hidden="true">
      <path d="M3.5 1.5h6l3 3v10h-9zM9.5 1.5v3h3" />
    </svg>
  );
}

function FileBrowser({ name, point, path }: { name: string; point: string; path: string }) {
  const base = `/services/${enc(name)}/backups/${enc(point)}/files`;
  const ls = useApi<FileListing>(`${base}?path=${enc(path)}`);
  // The stored paths (path=/) are the roots: folders above them are not in the point.
  const rootLs = useApi<FileListing>(path === '/' ? null : `${base}?path=/`);
  const roots = ((path === '/' ? ls.data : rootLs.data)?.entries ?? []).map((e) => '/' + e.name.replace(/^\/+/, ''));
  const root = roots.filter((r) => path === r || path.startsWith(r + '/')).sort((a, b) => b.length - a.length)[0] ?? null;
  const pageHref = (p: string) => href(`/services/${seg(name)}/points/${seg(point)}`, { path: p });
  const crumbs: { label: string; path: string }[] = [{ label: 'all volume paths', path: '/' }];
  if (path !== '/') {
    const r = root ?? path;
    crumbs.push({ label: r, path: r });
    const rest = path.slice(r.length).split('/').filter(Boolean);
    rest.forEach((_, i) => crumbs.push({ label: rest[i], path: r + '/' + rest.slice(0, i + 1).join('/') }));
  }
  const parent = path === '/' || path === root || !root ? '/' : path.slice(0, path.lastIndexOf('/')) || '/';
  const entries = ls.data ? [...ls.data.entries].sort((a, b) => (a.type === 'dir') === (b.type === 'dir') ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1) : [];

  return (
    <section aria-labelledby="files-h" class="files" data-testid="file-browser">
      <h2 id="files-h">Files</h2>
      <nav aria-label="Folder" class="crumbs path-crumbs">
        {crumbs.map((c, i) => (
          <span key={c.path}>
            {i > 0 && <span aria-hidden="true"> / </span>}
            {i === crumbs.length - 1 ? (
              <span aria-current="location">
                <code>{c.label}</code>
              </span>
            ) : (
              <a href={pageHref(c.path)}>
                <code>{c.label}</code>
              </a>
            )}
          </span>
        ))}
      </nav>
      <ErrorBox error={ls.error} />
      {!ls.data && !ls.error && <Loading what="Listing files" />}
      {ls.data && entries.length === 0 && <Empty>This folder is empty.</Empty>}
      {ls.data && entries.length > 0 && (
        <div class="table-wrap">
          <table class="table responsive" data-testid="files-table">
            <caption class="sr-only">Files in {path}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">Modified</th>
                <th scope="col">Mode</th>
                <th scope="col">
                  <span class="sr-only">Download</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {path !== '/' && (
                <tr>
                  <th scope="row" data-label="Name">
                    <a href={pageHref(parent)}>
                      <span aria-hidden="true">↑ </span>up one folder
                    </a>
                  </th>
                  <td class="num" data-label="" />
                  <td data-label="" />
                  <td data-label="" />
                  <td data-label="" />
                </tr>
              )}
              {entries.map((e) => {
                const full = joinPath(ls.data!.path || path, e.name);
                return (
                  <tr key={e.name} data-testid="file-row" data-name={e.name}>
                    <th scope="row" data-label="Name">
                      {e.type === 'dir' ? (
                        <a href={pageHref(full)}>
                          <FileIcon type="dir" />
                          {e.name}/
                        </a>
                      ) : (
                        <span>
                          <FileIcon type={e.type} />
                          {e.name}
                          {e.type === 'symlink' && <span class="small muted"> (symbolic link)</span>}
                        </span>
                      )}
                    </th>
                    <td class="num" data-label="Size">
                      {e.type === 'file' ? bytes(e.size) : null}
                    </td>
                    <td data-label="Modified">{e.mtime ? <Time iso={e.mtime} /> : null}</td>
                    <td data-label="Mode">
                      <code>{e.mode}</code>
                    </td>
                    <td data-label="Download">
                      {e.type === 'file' ? (
                        <a class="btn btn-small" href={`${BASE}${base}/content?path=${enc(full)}`} download={e.name} aria-label={`Download ${e.name}`}>
                          Download
                        </a>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
