'use strict';
// Shared plumbing of the ocpp-rpc peers driven by tests/test_interop.py.
//
// stdout: one JSON object per line ({"event": ...}); the Python test asserts on them.
// stdin:  one JSON command per line:
//   {"id": 1, "call": "Heartbeat", "params": {}, "identity": "CP1"}  -> {"event": "result" | "error", "id": 1, ...}
//   {"cmd": "close"}                                                  -> closes and exits
// Incoming CALLs are answered from the canned responses given on argv (method -> response);
// a method without one is answered by ocpp-rpc's default (NotImplemented).
const readline = require('readline');

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

// Reports every check that ocpp-rpc's strict mode (its own JSON schemas) or its RPC framework
// failed, so the Python side can assert that ocppfast sent nothing invalid.
function watch(client) {
    client.on('strictValidationFailure', (ev) => emit({
        event: 'strictValidationFailure',
        identity: client.identity,
        method: ev.method,
        outbound: ev.outbound,
        isCall: ev.isCall,
        error: String(ev.error && ev.error.message || ev.error),
        params: ev.params,
        result: ev.result,
    }));
    client.on('badMessage', (ev) => emit({
        event: 'badMessage',
        identity: client.identity,
        message: ev.buffer.toString(),
        error: String(ev.error && ev.error.message || ev.error),
        response: ev.response,
    }));
}

// ocpp-rpc 2.2.1 ships its OCPP 2.1 schemas with ids "urn:<Action>Request"/"urn:<Action>Response"
// but looks them up as "urn:<Action>.req"/"urn:<Action>.conf", so every 2.1 message fails its
// strict mode with ProtocolError "Schema ... is missing". The same schemas under the ids it
// looks up make 2.1 strict mode work as for 1.6 and 2.0.1.
function strictModeValidators() {
    const {createValidator} = require('ocpp-rpc');
    const schemas = require('ocpp-rpc/lib/schemas/ocpp2_1.json').map((schema) => ({
        ...schema,
        $id: schema.$id.replace(/Request$/, '.req').replace(/Response$/, '.conf'),
    }));
    return [createValidator('ocpp2.1', schemas)];
}

function answerFrom(client, responses) {
    client.handle(({method, params}) => {
        emit({event: 'call', identity: client.identity, method, params});
        if (!(method in responses)) {
            const {createRPCError} = require('ocpp-rpc');
            throw createRPCError('NotImplemented', `no canned response for ${method}`);
        }
        return responses[method];
    });
}

// Runs `onCommand(cmd)` for each stdin line; its result or RPC error is written back with the id.
function commands(onCommand) {
    const rl = readline.createInterface({input: process.stdin});
    rl.on('line', async (line) => {
        if (!line.trim()) return;
        let cmd;
        try {
            cmd = JSON.parse(line);
        } catch (e) {
            emit({event: 'fatal', error: `bad command line: ${e.message}`});
            return;
        }
        try {
            const result = await onCommand(cmd);
            if (cmd.id !== undefined) emit({event: 'result', id: cmd.id, result});
        } catch (err) {
            emit({
                event: 'error',
                id: cmd.id,
                code: err.rpcErrorCode || null,
                message: err.rpcErrorMessage || err.message,
                details: err.details || null,
            });
        }
    });
    return rl;
}

process.on('unhandledRejection', (err) => {
    emit({event: 'fatal', error: String(err && err.stack || err)});
    process.exit(1);
});

module.exports = {emit, watch, answerFrom, commands, strictModeValidators};
