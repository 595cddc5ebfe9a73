// Test PKI shaped like IGC-Santé: root → "TEST AC IGC-SANTE FORT PERSONNES" → CPS-like authentication
// certificates (CN=idNat+SN+GN multi-valued RDN, title, UPN SAN, smart-card logon + clientAuth EKUs).
// Built with the openssl CLI (`openssl ca`, which accepts explicit start and end dates, so expired and
// not-yet-valid certificates can be made). Test material only: keys are unencrypted in a temp dir.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface PersonSpec {
  idNat: string;
  lastName: string;
  firstName: string;
  profession: string;
  /** UPN in the SAN, e.g. "8.99999000011@carte-cps.fr". Default derived from idNat. */
  upn?: string;
  notBefore?: Date;
  notAfter?: Date;
}

export interface IssuedCert {
  certPem: string;
  certDer: Buffer;
  keyPem: string;
  certFile: string;
  keyFile: string;
  /** PKCS#8 DER private key file. */
  keyPk8File: string;
  x509: X509Certificate;
}

export interface TestPki {
  dir: string;
  root: IssuedCert;
  ca: IssuedCert;
  /** `kind: 'tech'`: the contactless "Certificat Technique CPS" (client auth only, no smart-card logon). */
  issue(person: PersonSpec, name?: string, opts?: { kind?: 'auth' | 'tech' }): IssuedCert;
}

const openssl = (args: string[], cwd: string) =>
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** openssl's UTCTime/GeneralizedTime form for `openssl ca -startdate/-enddate`. */
function asn1Time(d: Date): string {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${iso}Z`;
}

const DN_BASE = '/C=FR/O=ASIP-SANTE/OU=0002 187512751/OU=IGC-SANTE TEST';

function caConfig(dir: string, name: string): string {
  const base = path.join(dir, name);
  fs.mkdirSync(path.join(base, 'certs'), { recursive: true });
  fs.writeFileSync(path.join(base, 'index.txt'), '');
  fs.writeFileSync(path.join(base, 'serial'), '1000\n');
  const conf = path.join(base, 'ca.cnf');
  fs.writeFileSync(
    conf,
    `[ca]
default_ca = this
[this]
dir = ${base}
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir/certs
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
preserve = yes
utf8 = yes
email_in_dn = no
[anything]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = optional
surname = optional
givenName = optional
title = optional
[v3_root]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_ca]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_auth]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = 1.3.6.1.4.1.311.20.2.2, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:\${ENV::SILLAGE_UPN}
[v3_tech]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`,
  );
  return conf;
}

function newKey(dir: string, name: string) {
  const keyFile = path.join(dir, `${name}.key.pem`);
  const keyPk8File = path.join(dir, `${name}.key.p8.der`);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyFile], dir);
  openssl(['pkcs8', '-topk8', '-nocrypt', '-in', keyFile, '-outform', 'DER', '-out', keyPk8File], dir);
  return { keyFile, keyPk8File };
}

function load(certFile: string, keyFile: string, keyPk8File: string): IssuedCert {
  const certPem = fs.readFileSync(certFile, 'utf8');
  const x509 = new X509Certificate(certPem);
  return { certPem, certDer: x509.raw, keyPem: fs.readFileSync(keyFile, 'utf8'), certFile, keyFile, keyPk8File, x509 };
}

export function makeTestPki(dir: string): TestPki {
  fs.mkdirSync(dir, { recursive: true });
  const rootConf = caConfig(dir, 'root-ca');
  const caConf = caConfig(dir, 'fort-ca');
  const now = Date.now();
  const year = 365 * 24 * 3600 * 1000;
  /**
   * A new key, its request for `subj`, and the certificate `openssl ca` makes of it with `conf`'s
   * `extensions` between `from` and `to`: self-signed, or signed by `issuer`.
   */
  const certify = (o: {
    name: string;
    subj: string;
    conf: string;
    issuer: IssuedCert | 'self';
    extensions: string;
    from: Date;
    to: Date;
    /** The leaf's UPN (the v3_auth SAN reads it from the environment). */
    upn?: string;
    /** A multi-valued RDN (CN=idNat+SN+GN) in `subj`. */
    multiValue?: boolean;
  }): IssuedCert => {
    const k = newKey(dir, o.name);
    const env = { ...process.env, SILLAGE_UPN: o.upn ?? 'unused@test' };
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const rdn = o.multiValue ? ['-multivalue-rdn'] : [];
    run(['req', '-new', '-key', k.keyFile, '-subj', o.subj, ...rdn, '-utf8', '-out', `${o.name}.csr`]);
    const signer =
      o.issuer === 'self'
        ? ['-selfsign', '-keyfile', k.keyFile]
        : ['-cert', o.issuer.certFile, '-keyfile', o.issuer.keyFile];
    run([
      'ca',
      '-batch',
      '-config',
      o.conf,
      ...signer,
      '-in',
      `${o.name}.csr`,
      '-extensions',
      o.extensions,
      ...rdn,
      '-startdate',
      asn1Time(o.from),
      '-enddate',
      asn1Time(o.to),
      '-out',
      `${o.name}.pem`,
      '-notext',
    ]);
    return load(path.join(dir, `${o.name}.pem`), k.keyFile, k.keyPk8File);
  };

  // Root, self-signed through `openssl ca -selfsign` so dates are explicit.
  const root = certify({
    name: 'root',
    subj: `${DN_BASE}/CN=TEST AC RACINE IGC-SANTE`,
    conf: rootConf,
    issuer: 'self',
    extensions: 'v3_root',
    from: new Date(now - year),
    to: new Date(now + 10 * year),
  });
  const ca = certify({
    name: 'fort-ca',
    subj: `${DN_BASE}/CN=TEST AC IGC-SANTE FORT PERSONNES`,
    conf: rootConf,
    issuer: root,
    extensions: 'v3_ca',
    from: new Date(now - year),
    to: new Date(now + 5 * year),
  });

  return {
    dir,
    root,
    ca,
    issue: (p, name = `cps-${p.idNat}`, opts = {}) =>
      certify({
        name,
        subj: `/CN=${p.idNat}+SN=${p.lastName}+GN=${p.firstName}/title=${p.profession}/C=FR`,
        conf: caConf,
        issuer: ca,
        extensions: opts.kind === 'tech' ? 'v3_tech' : 'v3_auth',
        from: p.notBefore ?? new Date(now - 24 * 3600 * 1000),
        to: p.notAfter ?? new Date(now + 3 * year),
        upn: p.upn ?? `${p.idNat.slice(0, 1)}.${p.idNat.slice(1)}@carte-cps.fr`,
        multiValue: true,
      }),
  };
}

/** `openssl verify` of a leaf against root + intermediate; returns openssl's verdict line. */
export function opensslVerify(pki: TestPki, cert: IssuedCert): { ok: boolean; output: string } {
  try {
    const out = execFileSync(
      'openssl',
      ['verify', '-CAfile', pki.root.certFile, '-untrusted', pki.ca.certFile, cert.certFile],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return { ok: true, output: out.toString() };
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    return { ok: false, output: `${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}` };
  }
}
