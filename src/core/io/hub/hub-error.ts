/** Turns what a Hub call throws (HubApiError, fetch TypeError, abort) into a LorafuseError with advice. */
import { HubApiError } from '@huggingface/hub';
import { LorafuseError } from '../../../errors.ts';

export interface HubErrorContext {
  repo: string;
  hubUrl: string;
  revision?: string;
  path?: string;
  /** Whether the request carried an access token. */
  withToken?: boolean;
}

/** 404 for a missing file (as opposed to a missing repo or revision). */
export function fileNotFound(ctx: HubErrorContext & { path: string }): LorafuseError {
  return new LorafuseError(
    'hub-not-found',
    `File '${ctx.path}' was not found in repository '${ctx.repo}' at revision '${ctx.revision ?? 'main'}' on ${ctx.hubUrl} (check the file name and the revision)`,
    detailsOf(ctx),
  );
}

function repoNotFound(ctx: HubErrorContext, what: 'repo' | 'revision' = 'repo'): LorafuseError {
  const message =
    what === 'revision'
      ? `Revision '${ctx.revision}' of repository '${ctx.repo}' was not found on ${ctx.hubUrl} (check the branch, tag or commit)`
      : `Repository '${ctx.repo}' was not found on ${ctx.hubUrl} (check the id and the revision)`;
  return new LorafuseError('hub-not-found', message, detailsOf(ctx));
}

export function unauthorized(ctx: HubErrorContext, status: number, cause?: unknown): LorafuseError {
  const message = ctx.withToken
    ? `The Hub at ${ctx.hubUrl} refused the access token for '${ctx.repo}' (HTTP ${status}): check that the token in Settings is valid and has read access to this repository (accept its terms first if it is gated)`
    : `Repository '${ctx.repo}' on ${ctx.hubUrl} needs an access token (HTTP ${status}): it is private or gated, or it does not exist. Check the id, then add a Hugging Face access token in Settings (CLI: --token or HF_TOKEN)`;
  return new LorafuseError('hub-unauthorized', message, { ...detailsOf(ctx), status }, { cause });
}

export function networkError(ctx: HubErrorContext, reason: string, cause?: unknown): LorafuseError {
  return new LorafuseError(
    'hub-network',
    `The Hub at ${ctx.hubUrl} is unreachable (${reason}) while fetching ${ctx.path ? `'${ctx.path}' from ` : ''}'${ctx.repo}'. Files already in the cache still work offline; check the connection or the Hub URL in Settings, then retry`,
    { ...detailsOf(ctx), reason },
    { cause },
  );
}

export function serverError(ctx: HubErrorContext, status: number, cause?: unknown): LorafuseError {
  return new LorafuseError(
    'hub-network',
    `The Hub at ${ctx.hubUrl} answered HTTP ${status} for '${ctx.repo}'${ctx.path ? ` file '${ctx.path}'` : ''}: it may be down or overloaded; retry later (cached files still work offline)`,
    { ...detailsOf(ctx), status },
    { cause },
  );
}

/** True when `e` is what fetch throws for a failed connection (or a body cut mid-stream). */
export function isNetworkFailure(e: unknown): boolean {
  return (
    e instanceof TypeError ||
    (e instanceof Error && /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket|terminated/i.test(e.message))
  );
}

export function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

export function cancelled(ctx: HubErrorContext, cause?: unknown): LorafuseError {
  return new LorafuseError(
    'cancelled',
    `Download of '${ctx.path ?? ctx.repo}' was cancelled`,
    detailsOf(ctx),
    {
      cause,
    },
  );
}

/** Maps an HTTP status (for our own fetches) or anything thrown by the client into a LorafuseError. */
export function toHubError(e: unknown, ctx: HubErrorContext): LorafuseError {
  if (e instanceof LorafuseError) return e;
  if (isAbort(e)) return cancelled(ctx, e);
  if (e instanceof HubApiError) return fromStatus(e.statusCode, hubErrorText(e), ctx, e);
  if (isNetworkFailure(e)) return networkError(ctx, describeNetworkFailure(e), e);
  const message = e instanceof Error ? e.message : String(e);
  return new LorafuseError('internal', `Hub request for '${ctx.repo}' failed: ${message}`, detailsOf(ctx), {
    cause: e,
  });
}

/** For a non-ok response: `errorText` is the Hub's JSON `error` or the X-Error-Code. */
export function fromStatus(
  status: number,
  errorText: string,
  ctx: HubErrorContext,
  cause?: unknown,
): LorafuseError {
  if (status === 401 || status === 403) return unauthorized(ctx, status, cause);
  if (status === 404) {
    if (/entry ?not ?found/i.test(errorText) && ctx.path) return fileNotFound({ ...ctx, path: ctx.path });
    if (/rev(ision)?( id)?|RevisionNotFound/i.test(errorText)) return repoNotFound(ctx, 'revision');
    return repoNotFound(ctx);
  }
  if (status >= 500 || status === 429) return serverError(ctx, status, cause);
  return new LorafuseError(
    'internal',
    `The Hub at ${ctx.hubUrl} answered HTTP ${status} for '${ctx.repo}'${ctx.path ? ` file '${ctx.path}'` : ''}: ${errorText}`,
    { ...detailsOf(ctx), status },
    { cause },
  );
}

function hubErrorText(e: HubApiError): string {
  const data = e.data as { error?: unknown; message?: unknown } | undefined;
  return String(data?.error ?? data?.message ?? e.message);
}

function describeNetworkFailure(e: unknown): string {
  const cause = e instanceof Error ? (e.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}

function detailsOf(ctx: HubErrorContext): Record<string, unknown> {
  const d: Record<string, unknown> = { repo: ctx.repo, hubUrl: ctx.hubUrl };
  if (ctx.revision !== undefined) d.revision = ctx.revision;
  if (ctx.path !== undefined) d.path = ctx.path;
  return d;
}
