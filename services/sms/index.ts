/** SMS: the twilio SDK client, its failure classification and the local Twilio-compatible server. */
export {
  classifyTwilioError,
  SmsPermanentError,
  SmsPermanentReason,
  SmsTransientError,
  SmsTransientKind,
} from './errors';
export { TwilioRequestClient, TwilioSms } from './twilio-sms';
export type { SmsSendInput, SmsSendResult, TwilioSmsOptions } from './twilio-sms';
export {
  LOCAL_TWILIO_ACCOUNT_SID,
  LOCAL_TWILIO_AUTH_TOKEN,
  segmentCount,
  startLocalTwilio,
} from './local-twilio';
export type { LocalTwilio, LocalTwilioFailureStatus, LocalTwilioOptions, StoredSms } from './local-twilio';
