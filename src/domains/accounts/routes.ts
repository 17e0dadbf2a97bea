import { Type } from '@sinclair/typebox';
import { principalOf } from '../../platform/http/access.ts';
import { notFound } from '../../platform/http/errors.ts';
import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import type { AccountsDeps } from './deps.ts';
import { clientAddress } from './login-limits.ts';
import { login } from './login.ts';
import { changePassword } from './password-change.ts';
import { updateMyProfile } from './profile.ts';
import { readUser } from './read-user.ts';
import { register } from './register.ts';
import { assignRole } from './roles.ts';
import {
  AssignRoleBody,
  LoginBody,
  PasswordChangeBody,
  ProfilePatchBody,
  RegisterBody,
  RoleAssignmentSchema,
  TokenResponse,
  UserIdParams,
  UserSchema,
} from './schemas.ts';

const tags = ['accounts'];

export function registerAccountRoutes(app: HttpApp, deps: AccountsDeps): void {
  app.post(
    '/v1/auth/register',
    {
      config: { access: 'public' },
      schema: {
        tags,
        summary: 'Create a buyer or seller account',
        description: 'Registrations are limited per client address (REGISTRATIONS_PER_ADDRESS_PER_HOUR, 20 an hour by default; an IPv6 client by its /48; a taken email counting too); over the limit the answer is 429 with Retry-After.',
        body: RegisterBody,
        response: { 201: UserSchema, 400: ProblemResponse, 409: ProblemResponse, 429: ProblemResponse },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await register(deps, request.body, request.trace, clientAddress(request.ip, request.socket.remoteAddress))),
  );

  app.post(
    '/v1/auth/login',
    {
      config: { access: 'public' },
      schema: {
        tags,
        summary: 'Exchange email and password for an access token',
        description:
          'Failed logins are limited per account from one client address, per client address, and (more widely) per account from anywhere; over a limit the answer is 429 with Retry-After.',
        body: LoginBody,
        response: { 200: TokenResponse, 400: ProblemResponse, 401: ProblemResponse, 403: ProblemResponse, 429: ProblemResponse },
      },
    },
    async (request) => login(deps, request.body, request.ip, request.socket.remoteAddress),
  );

  app.get(
    '/v1/me',
    {
      config: { access: 'signed-in' },
      schema: { tags, summary: 'The signed-in user with roles and profile', response: { 200: UserSchema, ...authProblems, 404: ProblemResponse } },
    },
    async (request) => {
      const user = await readUser(deps.pool, principalOf(request).userId);
      if (!user) throw notFound('user');
      return user;
    },
  );

  app.patch(
    '/v1/me/profile',
    {
      config: { access: 'signed-in' },
      schema: {
        tags,
        summary: 'Change names, phone or addresses of the signed-in user',
        body: ProfilePatchBody,
        response: { 200: UserSchema, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => updateMyProfile(deps, principalOf(request).userId, request.body, request.trace),
  );

  app.post(
    '/v1/me/password',
    {
      config: { access: 'signed-in' },
      schema: {
        tags,
        summary: 'Change the signed-in user\'s password',
        description:
          'Gives the current password and a new one. The current one is checked as a login is, under the same limits (429 with Retry-After); a wrong one is 403 PASSWORD_MISMATCH. The user\'s access tokens issued before the change, this one included, are refused from then on (401 INVALID_TOKEN; in other processes of the marketplace within 2 seconds): sign in again with the new password.',
        body: PasswordChangeBody,
        response: { 204: Type.Null({ description: 'Changed' }), ...authProblems, 404: ProblemResponse, 429: ProblemResponse },
      },
    },
    async (request, reply) => {
      await changePassword(deps, principalOf(request).userId, request.body, request.ip, request.socket.remoteAddress);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/admin/users/:userId/roles',
    {
      config: { access: ['admin'] },
      schema: {
        tags,
        summary: 'Give a user a role (idempotent)',
        description:
          '201 when the role was assigned now, 200 when the user held it already. It appears in the user\'s next access token. 403 FORBIDDEN or ACCOUNT_DISABLED when the admin\'s own account no longer exists here or is disabled, however valid the token.',
        params: UserIdParams,
        body: AssignRoleBody,
        response: { 200: RoleAssignmentSchema, 201: RoleAssignmentSchema, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request, reply) => {
      const result = await assignRole(deps, { userId: request.params.userId, role: request.body.role, assignedBy: principalOf(request).userId }, request.trace);
      return reply.status(result.assigned ? 201 : 200).send(result);
    },
  );
}
