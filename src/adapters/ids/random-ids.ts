import { randomUUID } from 'node:crypto';
import type { IdGenerator } from '../../ports/ids.js';

export const randomIds: IdGenerator = { newId: () => randomUUID() };
