/** The one Temporal task queue baton's workers serve. */
/** Task queue the payment and registration workflows and their activities are served on. */
export const TASK_QUEUE = 'baton';
