import { describe, expect, it } from 'vitest';
import { dockerEndpoint, dockerStatus, pingDocker } from './docker.ts';

describe('docker detection', () => {
  it('reads DOCKER_HOST', () => {
    expect(dockerEndpoint({})).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(dockerEndpoint({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toEqual({ socketPath: '/run/user/1000/docker.sock' });
    expect(dockerEndpoint({ DOCKER_HOST: 'tcp://10.0.0.5:2376' })).toEqual({ host: '10.0.0.5', port: 2376 });
  });

  it('says no, with a reason, where no engine answers', async () => {
    const status = await pingDocker({ socketPath: '/nonexistent/docker.sock' }, 500);
    expect(status.available).toBe(false);
    expect(status.reason).toMatch(/no Docker engine at \/nonexistent\/docker\.sock/);
  });

  it('answers for this machine without throwing', async () => {
    const status = await dockerStatus();
    console.info(`[testkit] docker: ${status.reason}`);
    expect(typeof status.available).toBe('boolean');
  });
});
