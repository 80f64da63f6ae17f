/**
 * What goes over the wire between baton and the bank: the submit and status calls, the webhook the bank sends, and
 * the simulator's control endpoints. Every body on either side is parsed with these schemas.
 */
import { z } from 'zod';
import { BankOutcome } from '../../domain/payment-terms';
import type { Beneficiary } from '../../domain/payment-terms';

/** Header carrying the idempotency key of a submission (baton sends the payment id). */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

/** Header carrying the bank's webhook signature. */
export const SIGNATURE_HEADER = 'Bank-Signature';

/** A final status the bank reports. */
export const BankOutcomeSchema = z.enum(BankOutcome);

/** Where a payment stands at the bank: not final yet, or one of the outcomes. */
export const BankPaymentStatusSchema = z.enum(['pending', ...Object.values(BankOutcome)]);
/** One of {@link BankPaymentStatusSchema}. */
export type BankPaymentStatus = z.infer<typeof BankPaymentStatusSchema>;

/** The beneficiary as the bank receives it. */
export const BeneficiarySchema = z.object({
  name: z.string().min(1).max(140),
  country: z.string().regex(/^[A-Z]{2}$/),
  iban: z.string().min(1).max(34).optional(),
  accountNumber: z.string().min(1).max(34).optional(),
}) satisfies z.ZodType<Beneficiary>;

/** Body of `POST /v1/payments`. */
export const SubmitPaymentRequestSchema = z.object({
  paymentId: z.string().min(1).max(64),
  amountMinor: z.int().positive(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  beneficiary: BeneficiarySchema,
});
/** A payment handed to the bank. */
export type SubmitPaymentRequest = z.infer<typeof SubmitPaymentRequestSchema>;

/** Answer to `POST /v1/payments` (201 the first time, 200 on a faithful resubmission). */
export const SubmitPaymentResponseSchema = z.object({
  reference: z.string().min(1),
  status: BankPaymentStatusSchema,
});
/** The bank's reference for a submitted payment and its status at that moment. */
export type SubmitPaymentResponse = z.infer<typeof SubmitPaymentResponseSchema>;

/** Answer to `GET /v1/payments/:reference`. */
export const PaymentStatusResponseSchema = z.object({
  reference: z.string().min(1),
  paymentId: z.string().min(1),
  status: BankPaymentStatusSchema,
});
/** Where one payment stands at the bank. */
export type PaymentStatusResponse = z.infer<typeof PaymentStatusResponseSchema>;

/** Body of every 4xx/5xx answer of the bank. */
export const BankErrorBodySchema = z.object({
  error: z.object({ code: z.string().min(1), message: z.string() }),
});
/** An error answer of the bank. */
export type BankErrorBody = z.infer<typeof BankErrorBodySchema>;

/** The event the bank POSTs to baton's webhook when a payment reaches its final status. */
export const BankWebhookEventSchema = z.object({
  eventId: z.string().min(1).max(128),
  type: z.literal('payment.status'),
  paymentId: z.string().min(1).max(64),
  reference: z.string().min(1).max(128),
  status: BankOutcomeSchema,
  occurredAt: z.iso.datetime(),
});
/** A webhook event of the bank. */
export type BankWebhookEvent = z.infer<typeof BankWebhookEventSchema>;

/** How the simulator treats one payment id; set through `PUT /_sim/scenarios/:paymentId`. */
export const SimulatorScenarioSchema = z.object({
  /** Final status; the simulator's default when absent. */
  outcome: BankOutcomeSchema.optional(),
  /** Time from submission to the final status. */
  delayMs: z
    .int()
    .min(0)
    .max(24 * 60 * 60 * 1000)
    .optional(),
  /** Send the webhook once, never, or twice with the same event id. */
  webhook: z.enum(['deliver', 'drop', 'twice']).optional(),
  /** Answer 500 to this many of the next submissions of the payment. */
  failSubmits: z.int().min(0).max(1000).optional(),
  /** Take this many of the next submissions, then answer 500 anyway, as when the bank's answer is lost on the way. */
  loseSubmitAnswers: z.int().min(0).max(1000).optional(),
  /** Wait this long after the final status before sending the webhook (a late webhook; polls see the status). */
  webhookDelayMs: z
    .int()
    .min(0)
    .max(24 * 60 * 60 * 1000)
    .optional(),
  /** Hold the webhook once the status is final, until the simulator is told to release it (webhooks out of order). */
  holdWebhook: z.boolean().optional(),
});
/** One of the simulator's scenarios. */
export type SimulatorScenario = z.infer<typeof SimulatorScenarioSchema>;

/** Body of `POST /_sim/outage`: answer 500 to every bank API call for `forMs` milliseconds from now. */
export const SimulatorOutageSchema = z.object({
  forMs: z
    .int()
    .min(0)
    .max(24 * 60 * 60 * 1000),
});

/** A payment as the simulator holds it; listed by `GET /_sim/payments`. */
export const SimulatedPaymentSchema = z.object({
  reference: z.string(),
  paymentId: z.string(),
  amountMinor: z.int(),
  currency: z.string(),
  status: BankPaymentStatusSchema,
  /** The status the payment will end in. */
  outcome: BankOutcomeSchema,
  webhook: z.enum(['deliver', 'drop', 'twice']),
  submittedAt: z.iso.datetime(),
  finalAt: z.iso.datetime().optional(),
  /** Webhook POSTs attempted, failed ones included. */
  webhookAttempts: z.int(),
  /** Webhook POSTs the receiver answered with a 2xx. */
  webhooksDelivered: z.int(),
  /** The correlation id the first submission carried, echoed on every webhook of the payment. */
  correlationId: z.string().optional(),
});
/** A payment the simulator knows. */
export type SimulatedPayment = z.infer<typeof SimulatedPaymentSchema>;

/** Answer to `GET /_sim/payments`. */
export const SimulatedPaymentListSchema = z.object({ payments: z.array(SimulatedPaymentSchema) });
