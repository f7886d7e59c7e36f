// A small JSON-lines server around solc-js and an in-memory EVM (ethereumjs), for the tests of
// zkmargin's Solidity verifier export. One request per line on stdin, one answer per line on
// stdout:
//   {"op": "compile", "source": "...", "contract": "Groth16Verifier"}
//       -> {"ok": true, "bytecode": "0x...", "selectors": {"verifyProof(...)": "43753b4d"}}
//   {"op": "deploy", "bytecode": "0x..."}      -> {"ok": true, "address": "0x...", "gas": n}
//   {"op": "call", "address": "0x...", "data": "0x..."}
//       -> {"ok": true, "success": bool, "returnData": "0x...", "gas": n, "error": "..."|null}
// "gas" is the execution gas the EVM charged (without the transaction's intrinsic 21000 and
// calldata bytes). Each call starts like a transaction: the precompiles are warm (EIP-2929),
// whatever earlier calls touched is cold again.
import readline from 'node:readline'
import solc from 'solc'
import { createEVM } from '@ethereumjs/evm'
import { bytesToHex, createAddressFromString, hexToBytes } from '@ethereumjs/util'

const GAS_LIMIT = 30_000_000n
const evm = await createEVM()

function compile(source, contract) {
  const input = {
    language: 'Solidity',
    sources: { 'Verifier.sol': { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['evm.bytecode.object', 'evm.methodIdentifiers'] } },
    },
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input)))
  const errors = (output.errors || []).filter((e) => e.severity === 'error')
  if (errors.length) return { ok: false, error: errors.map((e) => e.formattedMessage).join('\n') }
  const warnings = (output.errors || []).filter((e) => e.severity !== 'error').map((e) => e.formattedMessage)
  const built = output.contracts['Verifier.sol'][contract]
  if (!built) return { ok: false, error: `no contract ${contract} in the source` }
  return {
    ok: true,
    bytecode: '0x' + built.evm.bytecode.object,
    selectors: built.evm.methodIdentifiers,
    warnings,
    solc: solc.version(),
  }
}

async function deploy(bytecode) {
  const result = await evm.runCall({ data: hexToBytes(bytecode), gasLimit: GAS_LIMIT })
  if (result.execResult.exceptionError || !result.createdAddress) {
    return { ok: false, error: `deployment failed: ${result.execResult.exceptionError?.error}` }
  }
  return { ok: true, address: result.createdAddress.toString(), gas: Number(result.execResult.executionGasUsed) }
}

function startTransaction() {
  evm.journal.cleanJournal()
  for (let i = 1; i <= 0x11; i++) evm.journal.addAlwaysWarmAddress(i.toString(16).padStart(40, '0'))
}

async function call(address, data) {
  startTransaction()
  const result = await evm.runCall({
    to: createAddressFromString(address),
    data: hexToBytes(data),
    gasLimit: GAS_LIMIT,
    isStatic: true,
  })
  const err = result.execResult.exceptionError
  return {
    ok: true,
    success: !err,
    error: err ? String(err.error) : null,
    returnData: bytesToHex(result.execResult.returnValue),
    gas: Number(result.execResult.executionGasUsed),
  }
}

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  if (!line.trim()) continue
  let answer
  try {
    const request = JSON.parse(line)
    if (request.op === 'compile') answer = compile(request.source, request.contract)
    else if (request.op === 'deploy') answer = await deploy(request.bytecode)
    else if (request.op === 'call') answer = await call(request.address, request.data)
    else answer = { ok: false, error: `unknown op ${request.op}` }
  } catch (e) {
    answer = { ok: false, error: String(e && e.stack ? e.stack : e) }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
