#!/usr/bin/env -S node --max-semi-space-size=32
// Runs the TypeScript CLI through tsx, so `npx signvote` works without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
