'use strict';
// An ocpp-rpc RPCClient (strict mode) as the charging station: node rpc_client.js URL IDENTITY
// PROTOCOL RESPONSES_JSON [PASSWORD] (HTTP Basic auth, security profile 1). Prints {"event": "connected", "protocol": ...} once connected, then
// follows stdin commands (see peer_io.js); exits when closed.
const {RPCClient} = require('ocpp-rpc');
const {emit, watch, answerFrom, commands, strictModeValidators} = require('./peer_io');

async function main() {
    const [endpoint, identity, protocol, responses, password] = process.argv.slice(2);
    const client = new RPCClient({
        endpoint,
        identity,
        password: password || undefined,
        protocols: [protocol],
        strictMode: true,
        strictModeValidators: strictModeValidators(),
        reconnect: false,
        callTimeoutMs: 10000,
    });
    watch(client);
    answerFrom(client, JSON.parse(responses || '{}'));
    client.on('close', ({code, reason}) => {
        emit({event: 'closed', code, reason: String(reason)});
        process.exit(0);
    });
    const rl = commands(async (cmd) => {
        if (cmd.cmd === 'close') {
            rl.close();
            await client.close({code: 1000});
            return null;
        }
        return client.call(cmd.call, cmd.params);
    });
    await client.connect();
    emit({event: 'connected', protocol: client.protocol, identity: client.identity});
}

main().catch((err) => {
    emit({event: 'fatal', error: String(err && err.stack || err)});
    process.exit(1);
});
