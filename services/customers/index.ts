/** Customer records. */
export { CustomerError, CustomerStore, customerIdFor } from './customers';
export type { Customer } from './customers';
