'use strict';
// An ocpp-rpc RPCServer (strict mode) as the central system: node rpc_server.js PROTOCOL
// RESPONSES_JSON. Listens on a free loopback port and prints {"event": "listening", "port": N};
// prints {"event": "client", ...} per connection; follows stdin commands (see peer_io.js), where
// "identity" picks the connected client to call.
const {RPCServer} = require('ocpp-rpc');
const {emit, watch, answerFrom, commands, strictModeValidators} = require('./peer_io');

async function main() {
    const [protocol, responses] = process.argv.slice(2);
    const canned = JSON.parse(responses || '{}');
    const server = new RPCServer({
        protocols: [protocol],
        strictMode: true,
        strictModeValidators: strictModeValidators(),
        callTimeoutMs: 10000,
        pingIntervalMs: 0,
    });
    const clients = new Map();
    server.on('client', (client) => {
        clients.set(client.identity, client);
        watch(client);
        answerFrom(client, canned);
        client.on('close', ({code, reason}) => {
            clients.delete(client.identity);
            emit({event: 'disconnected', identity: client.identity, code, reason: String(reason)});
        });
        emit({event: 'client', identity: client.identity, protocol: client.protocol});
    });
    const rl = commands(async (cmd) => {
        if (cmd.cmd === 'close') {
            rl.close();
            await server.close({code: 1000});
            process.exit(0);
        }
        const client = clients.get(cmd.identity);
        if (!client) throw new Error(`no client ${cmd.identity}`);
        return client.call(cmd.call, cmd.params);
    });
    const http = await server.listen(0, '127.0.0.1');
    emit({event: 'listening', port: http.address().port});
}

main().catch((err) => {
    emit({event: 'fatal', error: String(err && err.stack || err)});
    process.exit(1);
});
