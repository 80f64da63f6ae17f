/** Email: message templates and the SMTP mailer with its failure classification. */
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
