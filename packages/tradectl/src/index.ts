export { run } from './cli.ts';
export { memoryIo, Output, type CliIo, type CliStream } from './io.ts';
export { ExitCode, EXIT_CODES_HELP, CliError } from './errors.ts';
export { verifyExportFile, exportRange, type FileVerifyReport, type Problem } from './commands/export.ts';
export { matchesFilter, type EventFilter } from './filter.ts';
