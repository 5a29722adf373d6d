// `cloud out`: appends msg.payload to the gateway's durable outbox for a Kafka topic; the forwarder sends it when the
// link allows. The node completes (done) only once the append is durable, so the flow journal keeps the message
// until then.
module.exports = (RED) => {
  function toBuffer(payload) {
    if (Buffer.isBuffer(payload)) return payload;
    if (payload instanceof Uint8Array) return Buffer.from(payload);
    if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
    if (payload === undefined) return Buffer.alloc(0);
    return Buffer.from(JSON.stringify(payload), 'utf8');
  }

  function CloudOutNode(config) {
    RED.nodes.createNode(this, config);
    const gw = RED.settings.gatewayFlows;
    const kafkaTopic = (config.kafkaTopic || '').trim();
    const budgetClass = (config.budgetClass || '').trim() || undefined;
    const format = config.format === 'envelope' ? 'envelope' : 'raw';
    let keyOf = null;
    let problem = null;
    if (!gw) problem = 'not running in the gateway';
    else {
      try {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a key template, rendered per message.
        keyOf = gw.compileKeyTemplate(config.key || '${clientid}');
      } catch (err) {
        problem = `key template: ${err.message}`;
      }
    }
    if (problem) {
      this.status({ fill: 'red', shape: 'ring', text: problem.slice(0, 60) });
      this.error(`cloud out: ${problem}`);
    } else {
      this.status({ fill: 'green', shape: 'dot', text: kafkaTopic || 'msg.kafkaTopic' });
    }
    let pending = 0;
    let failed = 0;
    this.on('input', (msg, _send, done) => {
      if (problem) {
        done(new Error(`cloud out: ${problem}`));
        return;
      }
      const topic = kafkaTopic || msg.kafkaTopic;
      if (typeof topic !== 'string' || topic === '') {
        done(new Error('cloud out: no Kafka topic (set one on the node or in msg.kafkaTopic)'));
        return;
      }
      const source = {
        topic: typeof msg.topic === 'string' ? msg.topic : '',
        payload: toBuffer(msg.payload),
        qos: msg.qos === 1 || msg.qos === 2 ? msg.qos : 0,
        clientId: typeof msg.clientid === 'string' ? msg.clientid : '',
        username: typeof msg.username === 'string' ? msg.username : undefined,
      };
      const record = {
        kafkaTopic: topic,
        key: typeof msg.key === 'string' ? msg.key : keyOf(source),
        payload: source.payload,
        class: budgetClass,
        source,
        format,
      };
      pending++;
      gw.bus.appendOutbox(record).then(
        () => {
          pending--;
          done();
        },
        (err) => {
          pending--;
          failed++;
          this.status({ fill: 'red', shape: 'ring', text: `${failed} failed: ${err?.code || 'error'}` });
          done(err);
        },
      );
    });
    this.on('close', (done) => {
      if (pending > 0) this.debug(`closing with ${pending} appends in flight`);
      done();
    });
  }
  RED.nodes.registerType('cloud out', CloudOutNode);
};
