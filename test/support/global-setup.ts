import type { TestProject } from 'vitest/node';
import { prepareTemplates, testServer } from './server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseServerUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const { url, embedded } = await testServer();
  await prepareTemplates(url);
  project.provide('databaseServerUrl', url);
  return async () => {
    await embedded?.stop();
  };
}
