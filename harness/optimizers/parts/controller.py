"""The ENAS controller: an LSTM that emits one categorical choice per architecture row.

At row ``t`` the LSTM reads the embedding of the previous choice and emits
logits ``tanh_constant * tanh(W h_t / temperature)`` over that row's options;
a choice is sampled with an explicit generator. ``sample`` returns the choices
per group with the summed log-probability and entropy, both differentiable.
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces import SearchSpace


class Controller(nn.Module):
    """LSTM policy over the rows of every architecture-weight group of ``space``."""

    def __init__(self, space: SearchSpace, hidden: int = 32, layers: int = 2, temperature: float = 5.0,
                 tanh_constant: float = 2.5, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.groups = [(g.name, *g.shape) for g in space.param_groups]
        width = max(o for _, _, o in self.groups)
        self.hidden, self.temperature, self.tanh_constant = hidden, temperature, tanh_constant
        self.start = nn.Parameter(torch.zeros(1, 1, hidden))
        self.embed = nn.Embedding(width, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, opts) for name, _, opts in self.groups})
        # AutoDL search_model_enas_utils.py: U(-0.1, 0.1) for the start input, the first LSTM layer's
        # weights, the embedding and the prediction weights; torch's defaults for the rest
        for p in (self.start, self.lstm.weight_hh_l0, self.lstm.weight_ih_l0, self.embed.weight,
                  *(h.weight for h in self.heads.values())):
            nn.init.uniform_(p, -0.1, 0.1, generator=generator)

    def sample(self, generator: torch.Generator, forced: dict[str, list[int]] | None = None):
        """``(choices {group: [rows]}, log_prob, entropy)``; ``forced`` scores given choices instead."""
        x, state = self.start, None
        choices: dict[str, list[int]] = {}
        log_prob = torch.zeros((), device=self.start.device)
        entropy = torch.zeros((), device=self.start.device)
        for name, rows, _ in self.groups:
            picked = []
            for r in range(rows):
                out, state = self.lstm(x, state)
                logits = self.tanh_constant * torch.tanh(self.heads[name](out[-1, 0]) / self.temperature)
                logp = torch.log_softmax(logits, -1)
                if forced is None:
                    c = int(torch.multinomial(logp.exp().detach(), 1, generator=generator))
                else:
                    c = forced[name][r]
                log_prob = log_prob + logp[c]
                entropy = entropy - (logp.exp() * logp).sum()
                picked.append(c)
                x = self.embed(torch.tensor([[c]], device=self.start.device))
            choices[name] = picked
        return choices, log_prob, entropy
