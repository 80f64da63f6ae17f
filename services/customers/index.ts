/** Customer records. */
export { CustomerError, CustomerStore, customerIdFor } from './customers';
export type { Channel, Customer } from './customers';
