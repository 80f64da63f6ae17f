/** SMS: the twilio SDK client and its failure classification. */
export {
  classifyTwilioError,
  SmsPermanentError,
  SmsPermanentReason,
  SmsTransientError,
  SmsTransientKind,
} from './errors';
export { TwilioRequestClient, TwilioSms } from './twilio-sms';
export type { SmsSendInput, SmsSendResult, TwilioSmsOptions } from './twilio-sms';
