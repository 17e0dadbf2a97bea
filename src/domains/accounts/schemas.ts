import { type Static, Type } from '@sinclair/typebox';
import { CountryCode, PrintableText } from '../../platform/http/schemas.ts';
import { PASSWORD_INPUT_LENGTH_MAX, PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN } from './passwords.ts';

/** Request and response shapes of the accounts routes; every object closed, every string bounded. */

const closed = { additionalProperties: false } as const;

const text = PrintableText;

/**
 * One @, and around it no space, control character or invisible format character (U+200B, U+180E,
 * bidirectional marks…): `alice@example.com` and `alice@example.com` + U+200B were two accounts
 * that read the same.
 */
export const EmailSchema = Type.String({
  minLength: 3,
  maxLength: 254,
  // No invisible characters (format ones, joiners, variation selectors, fillers): an address with
  // one reads as another account's.
  pattern: '^[^@\\s\\p{Cc}\\p{Cf}\\p{Default_Ignorable_Code_Point}]+@[^@\\s\\p{Cc}\\p{Cf}\\p{Default_Ignorable_Code_Point}]+$',
  description: 'Email address; unique ignoring case',
});
/** A phone number: digits (at least four) with the usual separators, optionally after a +. */
export const PHONE_PATTERN = '^(?=(?:[^0-9]*[0-9]){4})\\+?[0-9 ().-]{4,30}$';

// Unions of literals (not Unsafe enums): the route type provider (TypeBox 1) reads schemas
// structurally and would type an Unsafe enum as unknown.
export const RoleSchema = Type.Union([Type.Literal('buyer'), Type.Literal('seller'), Type.Literal('admin')]);

export const RegisterBody = Type.Object(
  {
    email: EmailSchema,
    password: Type.String({
      minLength: 1,
      maxLength: PASSWORD_INPUT_LENGTH_MAX,
      description: `${PASSWORD_LENGTH_MIN} to ${PASSWORD_LENGTH_MAX} characters, counted once NFKC-normalised (an accent typed apart is one character with its letter, a ligature such as ﬃ three)`,
    }),
    role: Type.Optional(Type.Union([Type.Literal('buyer'), Type.Literal('seller')], { description: 'The account kind, buyer by default; admin is never self-assigned' })),
  },
  closed,
);
export type RegisterBody = Static<typeof RegisterBody>;

export const LoginBody = Type.Object(
  {
    // The registration pattern before control and format characters were refused: accounts made
    // then with such an email can still sign in.
    email: Type.String({ minLength: 3, maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$' }),
    password: Type.String({ minLength: 1, maxLength: PASSWORD_INPUT_LENGTH_MAX }),
  },
  closed,
);
export type LoginBody = Static<typeof LoginBody>;

export const PasswordChangeBody = Type.Object(
  {
    currentPassword: Type.String({ minLength: 1, maxLength: PASSWORD_INPUT_LENGTH_MAX }),
    newPassword: Type.String({
      minLength: 1,
      maxLength: PASSWORD_INPUT_LENGTH_MAX,
      description: `${PASSWORD_LENGTH_MIN} to ${PASSWORD_LENGTH_MAX} characters counted once NFKC-normalised, not the current one`,
    }),
  },
  closed,
);
export type PasswordChangeBody = Static<typeof PasswordChangeBody>;

export const TokenResponse = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds until the token expires' }),
});

export const ADDRESSES_MAX = 10;

export const AddressSchema = Type.Object(
  {
    label: Type.Optional(text(50, 'A name for the address, such as "home"')),
    name: text(200, 'Recipient'),
    lines: Type.Array(text(200), { minItems: 1, maxItems: 3, description: 'Street lines' }),
    city: text(100),
    region: Type.Optional(text(100)),
    postalCode: Type.String({ minLength: 1, maxLength: 20, pattern: '^(?=.*[A-Za-z0-9])[A-Za-z0-9 -]+$' }),
    country: CountryCode,
    phone: Type.Optional(Type.String({ pattern: PHONE_PATTERN })),
    isDefault: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type Address = Static<typeof AddressSchema>;

const nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const ProfilePatchBody = Type.Object(
  {
    firstName: Type.Optional(nullable(text(100))),
    lastName: Type.Optional(nullable(text(100))),
    phone: Type.Optional(nullable(Type.String({ pattern: PHONE_PATTERN, description: 'Preferably E.164, e.g. +15551234567' }))),
    addresses: Type.Optional(Type.Array(AddressSchema, { maxItems: ADDRESSES_MAX, description: 'Replaces the whole list; at most one isDefault' })),
  },
  { ...closed, minProperties: 1, description: 'Fields left out stay as they are; null clears one' },
);
export type ProfilePatchBody = Static<typeof ProfilePatchBody>;

export const ProfileSchema = Type.Object({
  firstName: Type.Union([Type.String(), Type.Null()]),
  lastName: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  addresses: Type.Array(AddressSchema),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type Profile = Static<typeof ProfileSchema>;

export const UserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  roles: Type.Array(RoleSchema),
  profile: ProfileSchema,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type User = Static<typeof UserSchema>;

export const UserIdParams = Type.Object({ userId: Type.String({ format: 'uuid' }) }, closed);

export const AssignRoleBody = Type.Object({ role: RoleSchema }, closed);

export const RoleAssignmentSchema = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  role: RoleSchema,
  assigned: Type.Boolean({ description: 'false when the user held the role already (nothing changed)' }),
  roles: Type.Array(RoleSchema),
});
