/** Email: message templates, the SMTP mailer with its failure classification, and the local SMTP sink. */
export { SMS_MAX_LENGTH, escapeHtml, renderMessage, renderSmsText } from './templates';
export type {
  MailMessage,
  PaymentOutcomeKind,
  PaymentOutcomeMessage,
  RenderedMessage,
  WelcomeMessage,
} from './templates';
export { MailPermanentError, MailTransientError, Mailer, classifyMailError, messageIdFor } from './mailer';
export type { MailFailureContext, MailerOptions, SendMailInput, SendMailResult } from './mailer';
export { startSmtpSink } from './smtp-sink';
export type { SmtpSink, SmtpSinkOptions, StoredMail } from './smtp-sink';
export { decodeHeaderValue, parseMail } from './mime';
export type { ParsedMail } from './mime';
