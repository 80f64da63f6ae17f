/** The business ids traces carry agree with the ids the workflow contracts build. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TRACE_ATTRIBUTES } from '../../services/telemetry/tracing';
import { businessIdAttributes } from '../../temporal/tracing';
import { paymentWorkflowId } from '../../workflows/payment-contract';
import { registrationWorkflowId } from '../../workflows/registration-contract';

test('names the payment id of a payment run and the registration id of a registration run', () => {
  assert.deepEqual(businessIdAttributes(paymentWorkflowId('p-1:x')), {
    [TRACE_ATTRIBUTES.paymentId]: 'p-1:x',
  });
  assert.deepEqual(businessIdAttributes(registrationWorkflowId('r-9')), {
    [TRACE_ATTRIBUTES.registrationId]: 'r-9',
  });
});

test('names nothing for a run of another kind', () => {
  assert.deepEqual(businessIdAttributes('baton-watchdog-sweep'), {});
  assert.deepEqual(businessIdAttributes('payment:'), {});
});
