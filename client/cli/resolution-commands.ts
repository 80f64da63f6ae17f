/** The CLI's `resolve`: ends a payment whose run was terminated with its money in flight, by what the bank says. */
import type { Config } from '../../config/config';
import { formatMoney } from '../../domain/money';
import type { Resolution } from '../../workflows/payment-resolution-contract';
import { runUiUrl } from '../ui-links';
import { oneId, output, parse, required, withClient } from './support';

/** How a resolution reads for people. */
function describeResolution(resolution: Resolution, uiUrl: string): string {
  const lines = [
    `payment ${resolution.paymentId}: ${resolution.outcome} by resolution (bank: ${resolution.bankStatus})`,
    `  amount:   ${formatMoney(resolution.amountMinor, resolution.currency)} from ${resolution.fromAccountId}`,
    `  resolved: by ${resolution.reviewer} at ${resolution.resolvedAt}${resolution.note ? ` — ${resolution.note}` : ''}`,
  ];
  if (resolution.bankReference) lines.push(`  bank ref: ${resolution.bankReference}`);
  lines.push(
    `  ledger:   ${Object.entries(resolution.ledger)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  if (resolution.notification) lines.push(`  customer: ${resolution.notification.outcome}`);
  lines.push(`  UI: ${uiUrl}`);
  return lines.join('\n');
}

/**
 * `resolve <paymentId> --reviewer <name> [--note <text>]`: settles or reverses a payment whose run is gone. Exit 0
 * when this call resolved it; 1 when it was refused (still running, nothing in flight, the bank has no final status)
 * or was resolved before, in which case nothing moved.
 */
export async function resolve(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean', default: false },
    reviewer: { type: 'string' },
    note: { type: 'string' },
  });
  const paymentId = oneId(positionals, 'resolve needs a payment id');
  const reviewer = required(values.reviewer, '--reviewer');
  const note = typeof values.note === 'string' && values.note.trim() !== '' ? values.note.trim() : undefined;
  const json = values.json === true;
  const { resolvePayment } = await import('../resolutions');
  return withClient(config, async (client) => {
    const answer = await resolvePayment(client, {
      paymentId,
      reviewer,
      ...(note === undefined ? {} : { note }),
    });
    const uiUrl = runUiUrl(
      config.TEMPORAL_UI_URL,
      config.TEMPORAL_NAMESPACE,
      answer.workflowId,
      answer.runId,
    );
    if (answer.kind === 'refused') {
      if (json) output(true)('', { paymentId, refused: answer.refusal, message: answer.message, uiUrl });
      console.error(`resolve refused (${answer.refusal}): ${answer.message}`);
      return 1;
    }
    const { resolution, existing } = answer;
    if (existing) {
      if (json) output(true)('', { ...resolution, alreadyResolved: true, uiUrl });
      console.error(
        `payment ${paymentId} was already resolved (${resolution.outcome}, by ${resolution.reviewer}); nothing moved`,
      );
      if (!json) console.log(describeResolution(resolution, uiUrl));
      return 1;
    }
    output(json)(describeResolution(resolution, uiUrl), { ...resolution, alreadyResolved: false, uiUrl });
    return 0;
  });
}
