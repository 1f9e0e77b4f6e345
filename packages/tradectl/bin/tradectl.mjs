#!/usr/bin/env node
// The tradectl bin: runs src/main.ts from source through tsx (the workspace runs TypeScript from source).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
