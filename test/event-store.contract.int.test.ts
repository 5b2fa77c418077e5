import { eventStoreContract } from './contracts/event-store.contract.js';
import { storeFactories } from './support/stores.js';

// One test database per test: on PostgreSQL, copies of a migrated template (dropped after the file).
for (const factory of await storeFactories({ postgresTemplate: true })) eventStoreContract(factory);
