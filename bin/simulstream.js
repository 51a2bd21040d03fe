#!/usr/bin/env node
import { runProcess } from '../dist/lib/cli/main.js';

await runProcess(process.argv);
