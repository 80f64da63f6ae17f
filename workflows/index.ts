/** Every workflow the worker serves; the worker bundles this module into its sandbox. */
export { paymentWorkflow } from './payment';
export { registrationWorkflow } from './registration';
export { paymentResolutionWorkflow } from './payment-resolution';
export { watchdogWorkflow } from './watchdog';
