/** Errors of the IMAP adapter. */
import { LpmqttError } from '../errors.js';

/** An IMAP command or connection failed; a new connection may do better. */
export class ImapError extends LpmqttError {
  override name = 'ImapError';
}

/** The server refused what the configuration asks for (credentials, certificate, folder): retrying cannot help. */
export class ImapFatalError extends ImapError {
  override name = 'ImapFatalError';
}
