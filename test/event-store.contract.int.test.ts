import { eventStoreContract } from './contracts/event-store.contract.js';
import { storeFactories } from './support/stores.js';

for (const factory of await storeFactories()) eventStoreContract(factory);
