"""Three PyTorch programs from pytorch/examples ported to torsh with minimal changes.

The torsh classes are the PyTorch source with only these edits (each marked ``# torsh:``): randomness
is an explicit ``key`` argument, in-place initialisation becomes assignment, ``view``/``flatten``
become ``reshape``, and the tied decoder borrows the encoder's weight in ``forward``. Everything else
(``super().__init__()``, attributes assigned in ``__init__`` without annotations, Python config
attributes) is PyTorch's own code. Each port is checked against the PyTorch original with copied
weights (forward, gradients, an optimizer step) and trained under ``torsh.jit``.

Sources: mnist/main.py (``Net``), word_language_model/model.py (``RNNModel``), vae/main.py (``VAE``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torsh
import torsh.nn.functional as F
from torsh import nn, optim

TF = torch.nn.functional
RNG = np.random.default_rng(0)


def _t(x):
    return torch.from_numpy(np.array(x))


def _assert_close(got, want, rtol=2e-5, atol=2e-6):
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=atol)


def _assert_grads_match(torsh_grads, torch_model):
    got = {k: v for k, v in torsh_grads.state_dict().items()}
    want = {k: p.grad for k, p in torch_model.named_parameters()}
    assert sorted(got) == sorted(want)
    for k in want:  # float32 sums in different orders: tolerance relative to the largest entry
        scale = float(want[k].abs().max())
        _assert_close(got[k], want[k], rtol=1e-4, atol=1e-6 + 1e-5 * scale)


# ------------------------------------------------------------------ mnist/main.py
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()  # noqa: UP008 - the original code
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x, key=None):  # torsh: dropout keys
        k1, k2 = nn.split_key(key, 2)
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x, key=k1)
        x = x.reshape(x.shape[0], -1)  # torsh: torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x, key=k2)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


class TorchNet(torch.nn.Module):
    def __init__(self):
        super(TorchNet, self).__init__()  # noqa: UP008
        self.conv1 = torch.nn.Conv2d(1, 32, 3, 1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = torch.nn.Dropout(0.25)
        self.dropout2 = torch.nn.Dropout(0.5)
        self.fc1 = torch.nn.Linear(9216, 128)
        self.fc2 = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = TF.relu(self.conv1(x))
        x = TF.relu(self.conv2(x))
        x = self.dropout1(TF.max_pool2d(x, 2))
        x = torch.flatten(x, 1)
        x = self.dropout2(TF.relu(self.fc1(x)))
        return TF.log_softmax(self.fc2(x), dim=1)


def test_mnist_net_matches_pytorch_and_trains_under_jit():
    torch.manual_seed(0)
    ref = TorchNet()
    model = Net().load_state_dict(ref.state_dict())
    assert model.num_parameters() == sum(p.numel() for p in ref.parameters())
    assert list(model.state_dict()) == list(ref.state_dict())
    data = RNG.standard_normal((4, 1, 28, 28)).astype(np.float32)
    target = np.array([3, 1, 4, 1])

    # eval mode: forward, gradients and one Adadelta step (the example's optimizer) equal PyTorch's
    ref.eval()
    loss_ref = TF.nll_loss(ref(_t(data)), _t(target))
    loss_ref.backward()

    def loss_fn(m, x, y, key=None):
        return F.nll_loss(m(x, key=key), y)

    adadelta = optim.Adadelta(lr=1.0)

    @torsh.jit
    def eval_step(model, x, y):  # one compiled function: eval loss, gradients, an Adadelta step
        ev = model.eval()
        loss, grads = torsh.value_and_grad(loss_fn)(ev, x, y)
        return loss, grads, adadelta.step(ev, grads, adadelta.init(ev))[0]

    x, y = jnp.asarray(data), jnp.asarray(target)
    loss, grads, stepped = eval_step(model, x, y)
    _assert_close(loss, loss_ref, rtol=1e-5)
    _assert_grads_match(grads, ref)
    torch.optim.Adadelta(ref.parameters(), lr=1.0).step()
    for k, p in ref.state_dict().items():
        _assert_close(stepped.state_dict()[k], p, rtol=1e-4, atol=1e-6)

    # training mode under torsh.jit: dropout with explicit keys, loss goes down on a fixed batch
    opt = optim.SGD(lr=0.05, momentum=0.9)

    @torsh.jit(donate=("model", "state"))
    def train_step(model, state, x, y, key):
        loss, grads = torsh.value_and_grad(loss_fn)(model, x, y, key)
        model, state = opt.step(model, grads, state)
        return model, state, loss

    before = float(loss)
    model = jax.tree.map(jnp.copy, model)  # donated below
    state = opt.init(model)
    for i in range(3):
        model, state, train_loss = train_step(model, state, x, y, torsh.random.key(i))
        assert np.isfinite(float(train_loss))
    assert model.training and float(eval_step(model, x, y)[0]) < before


# ------------------------------------------------------------------ word_language_model/model.py
class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()  # noqa: UP008
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            try:
                nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            except KeyError as e:
                raise ValueError(
                    """An invalid option for `--model` was supplied,
                                 options are ['LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU']"""
                ) from e
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

        # Optionally tie weights as in:
        # "Using the Output Embedding to Improve Language Models" (Press & Wolf 2016)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            # torsh: `self.decoder.weight = self.encoder.weight` becomes: the decoder has no weight of
            # its own and borrows the encoder's in forward (one array; its gradients add up).
            self.decoder = self.decoder.replace(weight=None)
        self.tie_weights = tie_weights

        self.init_weights()

        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        k1, k2 = nn.split_key(None, 2)  # torsh: in-place init_ functions become assignments
        self.encoder = self.encoder.replace(
            weight=nn.init.uniform(k1, self.encoder.weight.shape, -initrange, initrange)
        )
        self.decoder = self.decoder.replace(bias=nn.init.zeros(self.decoder.bias.shape))
        if self.decoder.weight is not None:
            self.decoder = self.decoder.replace(
                weight=nn.init.uniform(k2, self.decoder.weight.shape, -initrange, initrange)
            )

    def forward(self, input, hidden, key=None):  # torsh: dropout key
        k1, k2, k3 = nn.split_key(key, 3)
        emb = self.drop(self.encoder(input), key=k1)
        output, hidden = self.rnn(emb, hidden, key=k2)
        output = self.drop(output, key=k3)
        decoder = self.decoder.replace(weight=self.encoder.weight) if self.tie_weights else self.decoder
        decoded = decoder(output)
        decoded = decoded.reshape(-1, self.ntoken)  # torsh: .view
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (
                jnp.zeros((self.nlayers, bsz, self.nhid), weight.dtype),  # torsh: weight.new_zeros
                jnp.zeros((self.nlayers, bsz, self.nhid), weight.dtype),
            )
        else:
            return jnp.zeros((self.nlayers, bsz, self.nhid), weight.dtype)


class TorchRNNModel(torch.nn.Module):
    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = torch.nn.Dropout(dropout)
        self.encoder = torch.nn.Embedding(ntoken, ninp)
        self.rnn = getattr(torch.nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = torch.nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return TF.log_softmax(decoded, dim=1), hidden


@pytest.mark.parametrize("rnn_type,tied", [("LSTM", True)])  # untied: the idiom tests cover it
def test_word_language_model_matches_pytorch(rnn_type, tied):
    ntoken, emsize, nlayers, bptt, bsz = 30, 8, 2, 5, 3
    torch.manual_seed(0)
    ref = TorchRNNModel(rnn_type, ntoken, emsize, emsize, nlayers, dropout=0.2, tie_weights=tied).eval()
    model = RNNModel(rnn_type, ntoken, emsize, emsize, nlayers, dropout=0.2, tie_weights=tied)
    if tied:
        # one array: PyTorch lists the shared tensor under both names; torsh has it once
        assert "decoder.weight" not in model.state_dict()
        assert model.num_parameters() == sum(p.numel() for p in ref.parameters())
    model = model.load_state_dict(ref.state_dict(), strict=not tied).eval()
    data = RNG.integers(0, ntoken, (bptt, bsz))
    targets = RNG.integers(0, ntoken, bptt * bsz)
    hidden = model.init_hidden(bsz)
    hidden_ref = tuple(_t(h) for h in hidden) if rnn_type == "LSTM" else _t(hidden)

    out_ref, h_ref = ref(_t(data), hidden_ref)
    TF.nll_loss(out_ref, _t(targets)).backward()

    def loss_fn(m, x, y, h, key=None):
        out, h = m(x, h, key=key)
        return F.nll_loss(out, y), h

    (loss, h), grads = torsh.value_and_grad(loss_fn, has_aux=True)(
        model, jnp.asarray(data), jnp.asarray(targets), hidden
    )
    _assert_close(loss, TF.nll_loss(out_ref, _t(targets)), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(h), h_ref if rnn_type == "LSTM" else [h_ref], strict=True):
        _assert_close(a, b, rtol=1e-5, atol=1e-6)
    # tied: the encoder's gradient is the sum over both uses, as PyTorch's shared tensor
    _assert_grads_match(grads, ref)


def test_word_language_model_trains_with_the_examples_update_rule():
    """The example's loop: clip_grad_norm_ then ``p.data.add_(p.grad, alpha=-lr)`` — here tree.map."""
    ntoken, bptt, bsz, lr = 30, 5, 3, 5.0
    model = RNNModel("LSTM", ntoken, 8, 8, 2, dropout=0.2, tie_weights=True)

    def loss_fn(m, x, y, h, key):
        out, h = m(x, h, key=key)
        return F.nll_loss(out, y), h

    @torsh.jit
    def train_step(model, x, y, hidden, key):
        (loss, hidden), grads = torsh.value_and_grad(loss_fn, has_aux=True)(model, x, y, hidden, key)
        grads, _ = optim.clip_grad_norm(grads, 0.25)
        model = torsh.tree.map(lambda p, g: p - lr * g, model, grads)
        return model, jax.lax.stop_gradient(hidden), loss

    x = jnp.asarray(RNG.integers(0, ntoken, (bptt, bsz)))
    y = jnp.asarray(RNG.integers(0, ntoken, bptt * bsz))
    hidden = model.init_hidden(bsz)
    eval_loss = torsh.jit(lambda m, x, y, h: loss_fn(m.eval(), x, y, h, None)[0])
    before = float(eval_loss(model, x, y, hidden))
    weight0 = model.encoder.weight
    for i in range(5):
        model, _, loss = train_step(model, x, y, hidden, torsh.random.key(i))
    assert float(eval_loss(model, x, y, hidden)) < before
    assert not np.allclose(np.asarray(model.encoder.weight), np.asarray(weight0))
    assert model.decoder.weight is None and model.tie_weights


# ------------------------------------------------------------------ vae/main.py
class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()  # noqa: UP008

        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, key):  # torsh: key
        std = jnp.exp(0.5 * logvar)
        eps = jax.random.normal(key, std.shape, std.dtype)  # torsh: torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return jax.nn.sigmoid(self.fc4(h3))

    def forward(self, x, key):
        mu, logvar = self.encode(x.reshape(-1, 784))
        z = self.reparameterize(mu, logvar, key)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.reshape(-1, 784), reduction="sum")
    KLD = -0.5 * jnp.sum(1 + logvar - mu**2 - jnp.exp(logvar))
    return BCE + KLD


class TorchVAE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 400)
        self.fc21 = torch.nn.Linear(400, 20)
        self.fc22 = torch.nn.Linear(400, 20)
        self.fc3 = torch.nn.Linear(20, 400)
        self.fc4 = torch.nn.Linear(400, 784)

    def forward(self, x, eps):
        h1 = TF.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        z = mu + eps * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(TF.relu(self.fc3(z)))), mu, logvar


def test_vae_matches_pytorch_including_an_adam_step():
    torch.manual_seed(0)
    ref = TorchVAE()
    model = VAE().load_state_dict(ref.state_dict())
    x = RNG.uniform(0, 1, (4, 1, 28, 28)).astype(np.float32)
    key = torsh.random.key(0)
    eps = np.asarray(jax.random.normal(key, (4, 20), jnp.float32))  # what reparameterize draws

    recon_ref, mu_ref, logvar_ref = ref(_t(x), _t(eps))
    loss_ref = TF.binary_cross_entropy(recon_ref, _t(x).view(-1, 784), reduction="sum") - 0.5 * torch.sum(
        1 + logvar_ref - mu_ref.pow(2) - logvar_ref.exp()
    )
    loss_ref.backward()
    recon, mu, logvar = model(jnp.asarray(x), key)
    for a, b in ((recon, recon_ref), (mu, mu_ref), (logvar, logvar_ref)):
        _assert_close(a, b, rtol=1e-4, atol=1e-5)

    def loss_fn(m, x, key):
        recon_batch, mu, logvar = m(x, key)
        return loss_function(recon_batch, x, mu, logvar)

    opt = optim.Adam(lr=1e-3)

    @torsh.jit
    def train_step(model, state, x, key):
        loss, grads = torsh.value_and_grad(loss_fn)(model, x, key)
        model, state = opt.step(model, grads, state)
        return model, state, loss, grads

    new, _, loss, grads = train_step(model, opt.init(model), jnp.asarray(x), key)
    _assert_close(loss, loss_ref, rtol=1e-4)
    _assert_grads_match(grads, ref)
    torch_opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    torch_opt.step()
    for k, p in ref.state_dict().items():
        # Adam's first step is lr * g / (|g| + eps): +-lr, except for gradients near eps, where float32
        # noise in g moves it; 1% of lr absolute
        _assert_close(new.state_dict()[k], p, rtol=1e-4, atol=1e-5)
