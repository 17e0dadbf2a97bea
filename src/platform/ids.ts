import { v7 as uuidv7, validate, version } from 'uuid';

/** Makes time-ordered UUIDv7 ids: the application, not the database, names every row. */
export type IdGenerator = () => string;

export const newId: IdGenerator = () => uuidv7();

export function isUuid(value: string): boolean {
  return validate(value);
}

export function isUuidV7(value: string): boolean {
  return validate(value) && version(value) === 7;
}
