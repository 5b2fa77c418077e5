/** Ids come in from outside the domain, so tests can fix them. */
export interface IdGenerator {
  newId(): string;
}
