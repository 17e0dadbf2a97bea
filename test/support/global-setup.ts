import type { TestProject } from 'vitest/node';
import { randomBytes } from 'node:crypto';
import { dropTemplates, prepareTemplates, testServer } from './server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseServerUrl: string;
    templatePrefix: string;
  }
}

export default async function setup(project: TestProject) {
  const { url, embedded } = await testServer();
  const prefix = `bazaar_tpl_${randomBytes(4).toString('hex')}_`;
  await prepareTemplates(url, prefix);
  project.provide('databaseServerUrl', url);
  project.provide('templatePrefix', prefix);
  return async () => {
    await dropTemplates(url, prefix).catch(() => undefined);
    await embedded?.stop();
  };
}
