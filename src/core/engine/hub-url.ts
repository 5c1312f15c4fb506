import { LorafuseError } from '../../errors.ts';

/** An http(s) Hub URL without a trailing slash; anything else is refused with what was given. */
export function normalizeHubUrl(hubUrl: string): string {
  let url: URL;
  try {
    url = new URL(hubUrl.trim());
  } catch {
    throw new LorafuseError(
      'invalid-argument',
      `Hub URL "${hubUrl}" is not a URL. Use e.g. https://huggingface.co.`,
      {
        hubUrl,
      },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LorafuseError('invalid-argument', `Hub URL "${hubUrl}" must start with http:// or https://.`, {
      hubUrl,
    });
  }
  return url.href.replace(/\/+$/, '');
}
