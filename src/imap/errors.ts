/** Errors of the IMAP adapter. */
import { LpmqttError } from '../errors.js';

/** An IMAP command or connection failed; a new connection may do better. */
export class ImapError extends LpmqttError {
  override name = 'ImapError';
}

/**
 * The server refused what the configuration asks for (credentials,
 * certificate, folder). At start-up retrying cannot help; once running, a
 * folder that went away (deleted to be recreated) is waited for instead.
 */
export class ImapFatalError extends ImapError {
  override name = 'ImapFatalError';
  readonly refused: 'login' | 'folder' | 'config';
  constructor(message: string, options: { cause?: unknown; refused: 'login' | 'folder' | 'config' }) {
    super(message, { cause: options.cause });
    this.refused = options.refused;
  }
}

/**
 * An imapflow error's message with the server's own words: imapflow says
 * only "Command failed" and keeps Cyrus's text ("Mailbox does not exist",
 * "Invalid mailbox name") in `responseText`.
 */
export function imapReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { responseText?: unknown; serverResponseCode?: unknown };
  const text = typeof e.responseText === 'string' && e.responseText !== '' ? e.responseText : undefined;
  const code = typeof e.serverResponseCode === 'string' ? `[${e.serverResponseCode}] ` : '';
  return text === undefined || e.message.includes(text) ? e.message : `${e.message}: ${code}${text}`;
}
